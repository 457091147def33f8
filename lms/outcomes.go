package lms

import (
	"bytes"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// oauthTimestampWindow is how old an OAuth 1.0a timestamp may be. Moodle
// rejects only old timestamps, not future ones, and keeps no nonces.
const oauthTimestampWindow = 300 * time.Second

// poxNamespace is the XML namespace of Basic Outcomes responses.
const poxNamespace = "http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0"

// poxRequest is the part of an imsx_POXEnvelopeRequest Moodle reads. Only
// element names matter, not namespaces.
type poxRequest struct {
	XMLName   xml.Name `xml:"imsx_POXEnvelopeRequest"`
	MessageID string   `xml:"imsx_POXHeader>imsx_POXRequestHeaderInfo>imsx_messageIdentifier"`
	Body      struct {
		Ops []poxOp `xml:",any"`
	} `xml:"imsx_POXBody"`
}

// poxOp is one operation element in the POX body.
type poxOp struct {
	XMLName   xml.Name
	SourcedID string  `xml:"resultRecord>sourcedGUID>sourcedId"`
	Score     *string `xml:"resultRecord>result>resultScore>textString"`
}

// outcomeFailure is a failed outcome request: Moodle answers it with
// codeMajor failure and the reason as description, still with status 200.
type outcomeFailure string

func (f outcomeFailure) Error() string { return string(f) }

// handleOutcomes is /mod/lti/service.php, LTI 1.1 Basic Outcomes. The request
// must carry an Authorization: OAuth header whose oauth_body_hash is the
// base64 SHA-1 of the raw body and whose HMAC-SHA1 signature verifies with
// the consumer's secret; form-encoded bodies are refused.
func (p *Platform) handleOutcomes(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.outcomeReq++
	p.mu.Unlock()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxServiceBody))
	if err != nil {
		writePOX(w, "failure", "request body could not be read", "", "")
		return
	}
	typeID, err := p.verifyOutcomeSignature(r, body)
	if err != nil {
		writePOX(w, "failure", err.Error(), "", "")
		return
	}
	var req poxRequest
	if err := xml.NewDecoder(bytes.NewReader(body)).Decode(&req); err != nil {
		writePOX(w, "failure", "invalid XML", "", "")
		return
	}
	if len(req.Body.Ops) == 0 {
		writePOX(w, "failure", "no operation", req.MessageID, "")
		return
	}
	// Moodle takes the last child of imsx_POXBody as the operation.
	op := req.Body.Ops[len(req.Body.Ops)-1]
	opName := op.XMLName.Local
	respName := strings.TrimSuffix(opName, "Request") + "Response"
	switch opName {
	case "replaceResultRequest", "readResultRequest", "deleteResultRequest":
	default:
		writePOX(w, "unsupported", "unsupported", req.MessageID, opName)
		return
	}
	result, err := p.applyOutcome(typeID, opName, op)
	if err != nil {
		writePOX(w, "failure", err.Error(), req.MessageID, respName)
		return
	}
	desc := map[string]string{
		"replaceResultRequest": "Grade replace response",
		"readResultRequest":    "Result read",
		"deleteResultRequest":  "Grade delete request",
	}[opName]
	writePOXResult(w, "success", desc, req.MessageID, respName, result, opName == "readResultRequest")
}

// verifyOutcomeSignature checks the body hash and the OAuth signature of an
// outcome request against the secret of the consumer key it names, and
// returns that tool's type id.
func (p *Platform) verifyOutcomeSignature(r *http.Request, body []byte) (string, error) {
	params, ok := parseOAuthHeader(r.Header.Get("Authorization"))
	key := params.Get("oauth_consumer_key")
	if !ok || key == "" {
		return "", outcomeFailure("Consumer key is missing.")
	}
	if mediaType(r.Header.Get("Content-Type")) == "application/x-www-form-urlencoded" {
		return "", outcomeFailure("OAuth request body signing must not use application/x-www-form-urlencoded")
	}
	p.mu.Lock()
	t := p.toolLocked(key)
	var secret, typeID string
	if t != nil && t.ConsumerKey == key {
		secret, typeID = t.SharedSecret, t.DeploymentID
	}
	endpoint := p.endpointLocked(outcomesPath)
	now := p.now()
	p.mu.Unlock()
	if t == nil || t.ConsumerKey != key {
		return "", outcomeFailure("Message signature not valid")
	}
	if !params.Has("oauth_body_hash") {
		return "", outcomeFailure("OAuth request body signing requires oauth_body_hash body")
	}
	if v := params.Get("oauth_version"); v != "" && v != "1.0" {
		return "", outcomeFailure("OAuth version '" + v + "' not supported")
	}
	if m := params.Get("oauth_signature_method"); m != "HMAC-SHA1" {
		return "", outcomeFailure("Signature method '" + m + "' not supported")
	}
	ts, err := strconv.ParseInt(params.Get("oauth_timestamp"), 10, 64)
	if err != nil {
		return "", outcomeFailure("Missing timestamp parameter")
	}
	if now.Sub(time.Unix(ts, 0)) > oauthTimestampWindow {
		return "", outcomeFailure("Expired timestamp")
	}
	// The tool signed the URL it was given; its query is signed too.
	rawURL := endpoint
	if r.URL.RawQuery != "" {
		rawURL += "?" + r.URL.RawQuery
	}
	want, err := OAuthSignature(r.Method, rawURL, params, secret)
	if err != nil {
		return "", outcomeFailure("Invalid signature")
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(params.Get("oauth_signature"))) != 1 {
		return "", outcomeFailure("Message signature not valid")
	}
	sum := sha1.Sum(body)
	if base64.StdEncoding.EncodeToString(sum[:]) != params.Get("oauth_body_hash") {
		return "", outcomeFailure("OAuth oauth_body_hash mismatch")
	}
	return typeID, nil
}

// applyOutcome performs a verified outcome operation for the tool with type
// id typeID and returns the score text a read answers with.
func (p *Platform) applyOutcome(typeID, opName string, op poxOp) (string, error) {
	var env sourcedEnvelope
	if json.Unmarshal([]byte(op.SourcedID), &env) != nil {
		return "", outcomeFailure("Invalid sourcedId in result message")
	}
	var value float64
	if opName == "replaceResultRequest" {
		s := ""
		if op.Score != nil {
			s = *op.Score
		}
		if !isNumeric(s) {
			return "", outcomeFailure("Score must be numeric")
		}
		v, err := parseNumeric(s)
		if err != nil || v < 0 || v > 1 {
			return "", outcomeFailure("Score not between 0.0 and 1.0")
		}
		value = v
	}
	d := env.Data
	p.mu.Lock()
	defer p.mu.Unlock()
	// Moodle's instance ids are unique site-wide; here the same activity id
	// may exist in several courses, so the one whose secret produced the
	// hash is the activity meant.
	var ls *linkState
	graded := false
	for k, s := range p.links {
		if k.link != d.InstanceID || k.typeID != d.TypeID || s.lineItemID == 0 {
			continue
		}
		graded = true
		if sourcedHash(d, s.salt) == env.Hash {
			ls = s
			break
		}
	}
	if !graded {
		return "", outcomeFailure("Tool does not accept grades")
	}
	if ls == nil {
		return "", outcomeFailure("SourcedId hash not valid")
	}
	// Moodle accepts any registered consumer key once the hash matches; a
	// tool that sends another tool's sourcedid has a bug worth seeing.
	if d.TypeID != typeID {
		return "", outcomeFailure("SourcedId belongs to another tool")
	}
	li := p.items[ls.lineItemID]
	if li == nil {
		return "", outcomeFailure("Tool does not accept grades")
	}
	switch opName {
	case "replaceResultRequest":
		v := value * li.max
		li.setGradeLocked(d.UserID, &v, li.max, "", p.now())
	case "deleteResultRequest":
		li.setGradeLocked(d.UserID, nil, li.max, "", p.now())
	case "readResultRequest":
		if g := li.grades[d.UserID]; g != nil && g.score != nil && li.max != 0 {
			// PHP prints floats with 14 significant digits.
			return strconv.FormatFloat(*g.score/li.max, 'g', 14, 64), nil
		}
	}
	return "", nil
}

// writePOX writes an imsx_POXEnvelopeResponse without a result.
func writePOX(w http.ResponseWriter, codeMajor, desc, messageRef, respName string) {
	writePOXResult(w, codeMajor, desc, messageRef, respName, "", false)
}

// writePOXResult writes Moodle's response envelope. A read response carries
// the score in result/resultScore, an empty string when there is none.
func writePOXResult(w http.ResponseWriter, codeMajor, desc, messageRef, respName, score string,
	withResult bool) {
	esc := func(s string) string {
		var b strings.Builder
		xml.EscapeText(&b, []byte(s))
		return b.String()
	}
	opRef := strings.ReplaceAll(respName, "Response", "Request")
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<imsx_POXEnvelopeResponse xmlns="` + poxNamespace + `">`)
	b.WriteString(`<imsx_POXHeader><imsx_POXResponseHeaderInfo><imsx_version>V1.0</imsx_version>`)
	fmt.Fprintf(&b, `<imsx_messageIdentifier>%d</imsx_messageIdentifier>`, randomLaunchID())
	b.WriteString(`<imsx_statusInfo>`)
	fmt.Fprintf(&b, `<imsx_codeMajor>%s</imsx_codeMajor>`, esc(codeMajor))
	b.WriteString(`<imsx_severity>status</imsx_severity>`)
	fmt.Fprintf(&b, `<imsx_description>%s</imsx_description>`, esc(desc))
	fmt.Fprintf(&b, `<imsx_messageRefIdentifier>%s</imsx_messageRefIdentifier>`, esc(messageRef))
	fmt.Fprintf(&b, `<imsx_operationRefIdentifier>%s</imsx_operationRefIdentifier>`, esc(opRef))
	b.WriteString(`</imsx_statusInfo></imsx_POXResponseHeaderInfo></imsx_POXHeader><imsx_POXBody>`)
	switch {
	case respName == "":
		// A request that could not be read has no operation to answer.
	case withResult:
		fmt.Fprintf(&b, `<%s><result><resultScore><language>en</language><textString>%s</textString>`+
			`</resultScore></result></%s>`, respName, esc(score), respName)
	default:
		fmt.Fprintf(&b, `<%s/>`, respName)
	}
	b.WriteString(`</imsx_POXBody></imsx_POXEnvelopeResponse>`)
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, b.String())
}
