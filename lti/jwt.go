package lti

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxTokenLen bounds the id_token size Verify looks at. Real launches are a
// few kilobytes; custom claims may add some.
const maxTokenLen = 256 << 10

// compactJWS is a JWS in compact serialisation, split and decoded. Header and
// claims are read before the signature is checked only to find the platform
// and key; every decision is taken after.
type compactJWS struct {
	header    map[string]any
	claims    map[string]any
	signed    []byte // the ASCII "header.payload" the signature covers
	signature []byte
}

// parseCompact splits a compact JWS. Decoding is strict base64url without
// padding, so each token has exactly one encoding: a changed character
// always changes the decoded bytes.
func parseCompact(tok string) (*compactJWS, *Error) {
	if len(tok) > maxTokenLen {
		return nil, malformed(CodeBadToken, "id_token is longer than %d bytes", maxTokenLen)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, malformed(CodeBadToken, "id_token has %d parts, a compact JWS has 3", len(parts))
	}
	var raw [3][]byte
	for i, p := range parts {
		b, err := b64.DecodeString(p)
		// An empty signature is let through so that an unsigned token is
		// refused by the algorithm check, with a clearer error.
		if err != nil || len(b) == 0 && i < 2 {
			return nil, malformed(CodeBadToken, "id_token part %d is not base64url", i+1)
		}
		raw[i] = b
	}
	header, err := decodeObject(raw[0])
	if err != nil {
		return nil, malformed(CodeBadToken, "id_token header is not a JSON object")
	}
	claims, err := decodeObject(raw[1])
	if err != nil {
		return nil, malformed(CodeBadToken, "id_token payload is not a JSON object")
	}
	return &compactJWS{
		header:    header,
		claims:    claims,
		signed:    []byte(tok[:len(parts[0])+1+len(parts[1])]),
		signature: raw[2],
	}, nil
}

// decodeObject decodes exactly one JSON object, numbers kept as json.Number.
func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("null")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	return m, nil
}

// numericDate reads a NumericDate claim (RFC 7519 §2): seconds since the
// epoch, possibly fractional.
func numericDate(c map[string]any, name string) (t time.Time, present bool, err error) {
	v, ok := c[name]
	if !ok {
		return time.Time{}, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, true, errors.New(name + " is not a number")
	}
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		if i < 0 || i > maxNumericDate {
			return time.Time{}, true, errors.New(name + " is out of range")
		}
		return time.Unix(i, 0), true, nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, true, errors.New(name + " is out of range")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// maxNumericDate (year 5138) keeps time arithmetic far from overflow.
const maxNumericDate = 1e11
