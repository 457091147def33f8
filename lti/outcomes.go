package lti

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Basic Outcomes operations (LTI 1.1 Basic Outcomes Service, POX binding).
const (
	OutcomeReplace = "replaceResult"
	OutcomeRead    = "readResult"
	OutcomeDelete  = "deleteResult"
)

// outcomeNamespace is the XML namespace of Basic Outcomes messages.
const outcomeNamespace = "http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0"

// maxOutcomeResponse bounds what is read of a platform's answer.
const maxOutcomeResponse = 1 << 20

// OutcomeService names where one user's LTI 1.1 result lives and how to
// reach it: the launch's lis_outcome_service_url and lis_result_sourcedid
// (verbatim), and the consumer's key and secret.
type OutcomeService struct {
	URL       string
	SourcedID string
	Key       string
	Secret    string
}

// OutcomeRequestBody returns the imsx_POXEnvelopeRequest of an operation on
// sourcedID. A replaceResult carries score, which must be within 0.0–1.0;
// the other operations ignore it. The sourcedid is XML-escaped, never
// altered otherwise.
func OutcomeRequestBody(op, messageID, sourcedID string, score float64) ([]byte, error) {
	switch op {
	case OutcomeReplace:
		if math.IsNaN(score) || score < 0 || score > 1 {
			return nil, fmt.Errorf("build outcome request: score %v is not between 0.0 and 1.0", score)
		}
	case OutcomeRead, OutcomeDelete:
	default:
		return nil, fmt.Errorf("build outcome request: unknown operation %s", quote(op))
	}
	var b bytes.Buffer
	esc := func(s string) { _ = xml.EscapeText(&b, []byte(s)) }
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<imsx_POXEnvelopeRequest xmlns="` + outcomeNamespace + `">`)
	b.WriteString(`<imsx_POXHeader><imsx_POXRequestHeaderInfo><imsx_version>V1.0</imsx_version>`)
	b.WriteString(`<imsx_messageIdentifier>`)
	esc(messageID)
	b.WriteString(`</imsx_messageIdentifier></imsx_POXRequestHeaderInfo></imsx_POXHeader>`)
	b.WriteString(`<imsx_POXBody><` + op + `Request><resultRecord><sourcedGUID><sourcedId>`)
	esc(sourcedID)
	b.WriteString(`</sourcedId></sourcedGUID>`)
	if op == OutcomeReplace {
		// 'f' with the shortest exact digits: never an exponent, which
		// platforms' numeric checks may refuse.
		b.WriteString(`<result><resultScore><language>en</language><textString>`)
		b.WriteString(strconv.FormatFloat(score, 'f', -1, 64))
		b.WriteString(`</textString></resultScore></result>`)
	}
	b.WriteString(`</resultRecord></` + op + `Request></imsx_POXBody></imsx_POXEnvelopeRequest>`)
	return b.Bytes(), nil
}

// OutcomeResponse is the part of an imsx_POXEnvelopeResponse a tool reads.
type OutcomeResponse struct {
	// CodeMajor is success, processing, failure or unsupported.
	CodeMajor   string
	Description string
	// MessageRef echoes the request's message identifier.
	MessageRef string
	// Score is the textString of a readResult answer, nil when absent. An
	// empty string means the platform holds no grade.
	Score *string
}

// ParseOutcomeResponse reads a platform's answer to an outcome request.
// Element names count, namespaces do not, since platforms differ in them.
func ParseOutcomeResponse(b []byte) (*OutcomeResponse, error) {
	var env struct {
		XMLName     xml.Name `xml:"imsx_POXEnvelopeResponse"`
		CodeMajor   string   `xml:"imsx_POXHeader>imsx_POXResponseHeaderInfo>imsx_statusInfo>imsx_codeMajor"`
		Description string   `xml:"imsx_POXHeader>imsx_POXResponseHeaderInfo>imsx_statusInfo>imsx_description"`
		MessageRef  string   `xml:"imsx_POXHeader>imsx_POXResponseHeaderInfo>imsx_statusInfo>imsx_messageRefIdentifier"`
		Body        struct {
			Ops []struct {
				XMLName xml.Name
				Score   *string `xml:"result>resultScore>textString"`
			} `xml:",any"`
		} `xml:"imsx_POXBody"`
	}
	if err := xml.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("parse outcome response: %w", err)
	}
	out := &OutcomeResponse{
		CodeMajor:   strings.TrimSpace(env.CodeMajor),
		Description: strings.TrimSpace(env.Description),
		MessageRef:  strings.TrimSpace(env.MessageRef),
	}
	if out.CodeMajor == "" {
		return nil, errors.New("parse outcome response: no imsx_codeMajor")
	}
	for _, op := range env.Body.Ops {
		if op.Score != nil {
			s := strings.TrimSpace(*op.Score)
			out.Score = &s
		}
	}
	return out, nil
}

// SignOutcomeRequest returns the Authorization header of an outcome request
// with body to rawURL: OAuth 1.0a HMAC-SHA1 over the URL (its query
// included) and the protocol parameters, with oauth_body_hash binding the
// body. nonce must be fresh for every request.
func SignOutcomeRequest(rawURL, key, secret string, body []byte, now time.Time, nonce string) (string, error) {
	params := url.Values{
		"oauth_version":          {"1.0"},
		"oauth_nonce":            {nonce},
		"oauth_timestamp":        {strconv.FormatInt(now.Unix(), 10)},
		"oauth_consumer_key":     {key},
		"oauth_body_hash":        {BodyHash(body)},
		"oauth_signature_method": {"HMAC-SHA1"},
	}
	sig, err := Sign(http.MethodPost, rawURL, params, secret, "")
	if err != nil {
		return "", fmt.Errorf("sign outcome request: %w", err)
	}
	params.Set("oauth_signature", sig)
	return AuthorizationHeader(params), nil
}

// OutcomeError is a failed outcome request.
type OutcomeError struct {
	// Status is the HTTP status, 0 when no answer came.
	Status int
	// CodeMajor and Description are the platform's answer, if it gave one.
	CodeMajor   string
	Description string
	// Permanent reports whether repeating the request cannot help: the
	// platform read it and refused it.
	Permanent bool
	Err       error
}

func (e *OutcomeError) Error() string {
	var b strings.Builder
	b.WriteString("outcome request")
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.CodeMajor != "" {
		fmt.Fprintf(&b, ": %s", e.CodeMajor)
		if e.Description != "" {
			fmt.Fprintf(&b, " %q", e.Description)
		}
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *OutcomeError) Unwrap() error { return e.Err }

// OutcomeClient sends LTI 1.1 Basic Outcomes requests.
type OutcomeClient struct {
	// Client sends the requests; nil means a client with a 20 s timeout.
	Client *http.Client
	// Now is the clock of oauth_timestamp; nil means time.Now.
	Now func() time.Time
}

// Replace stores score (0.0–1.0) as the user's result.
func (c *OutcomeClient) Replace(ctx context.Context, s OutcomeService, score float64) error {
	_, err := c.call(ctx, s, OutcomeReplace, score)
	return err
}

// Delete removes the user's result.
func (c *OutcomeClient) Delete(ctx context.Context, s OutcomeService) error {
	_, err := c.call(ctx, s, OutcomeDelete, 0)
	return err
}

// Read returns the user's result, nil when the platform holds none.
func (c *OutcomeClient) Read(ctx context.Context, s OutcomeService) (*float64, error) {
	r, err := c.call(ctx, s, OutcomeRead, 0)
	if err != nil {
		return nil, err
	}
	if r.Score == nil || *r.Score == "" {
		return nil, nil
	}
	v, err := strconv.ParseFloat(*r.Score, 64)
	if err != nil {
		return nil, &OutcomeError{Status: http.StatusOK, CodeMajor: r.CodeMajor, Permanent: true,
			Err: fmt.Errorf("result %q is not a number", *r.Score)}
	}
	return &v, nil
}

func (c *OutcomeClient) call(ctx context.Context, s OutcomeService, op string, score float64) (*OutcomeResponse, error) {
	id := make([]byte, 16)
	nonce := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, &OutcomeError{Err: err}
	}
	if _, err := rand.Read(nonce); err != nil {
		return nil, &OutcomeError{Err: err}
	}
	body, err := OutcomeRequestBody(op, hex.EncodeToString(id), s.SourcedID, score)
	if err != nil {
		return nil, &OutcomeError{Permanent: true, Err: err}
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	authz, err := SignOutcomeRequest(s.URL, s.Key, s.Secret, body, now(), hex.EncodeToString(nonce))
	if err != nil {
		return nil, &OutcomeError{Permanent: true, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return nil, &OutcomeError{Permanent: true, Err: err}
	}
	req.Header.Set("Content-Type", "application/xml")
	req.Header.Set("Authorization", authz)
	client := c.Client
	if client == nil {
		client = &http.Client{Timeout: 20 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, &OutcomeError{Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxOutcomeResponse))
	if err != nil {
		return nil, &OutcomeError{Status: resp.StatusCode, Err: err}
	}
	if resp.StatusCode/100 != 2 {
		// Server trouble and rate limits pass; other refusals are about the
		// request or the registration.
		return nil, &OutcomeError{Status: resp.StatusCode, Permanent: resp.StatusCode/100 == 4 &&
			resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout}
	}
	r, err := ParseOutcomeResponse(b)
	if err != nil {
		// A 200 that is not an outcome response is a front page or a proxy's
		// error page; it may pass.
		return nil, &OutcomeError{Status: resp.StatusCode, Err: err}
	}
	if r.CodeMajor != "success" {
		return nil, &OutcomeError{Status: resp.StatusCode, CodeMajor: r.CodeMajor, Description: r.Description,
			Permanent: r.CodeMajor != "processing"}
	}
	return r, nil
}
