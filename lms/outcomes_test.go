package lms

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// poxResponse is what a tool reads from an outcome response.
type poxResponse struct {
	XMLName      xml.Name `xml:"http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0 imsx_POXEnvelopeResponse"`
	CodeMajor    string   `xml:"imsx_POXHeader>imsx_POXResponseHeaderInfo>imsx_statusInfo>imsx_codeMajor"`
	Description  string   `xml:"imsx_POXHeader>imsx_POXResponseHeaderInfo>imsx_statusInfo>imsx_description"`
	MessageRef   string   `xml:"imsx_POXHeader>imsx_POXResponseHeaderInfo>imsx_statusInfo>imsx_messageRefIdentifier"`
	OperationRef string   `xml:"imsx_POXHeader>imsx_POXResponseHeaderInfo>imsx_statusInfo>imsx_operationRefIdentifier"`
	Body         struct {
		Inner []struct {
			XMLName xml.Name
			Score   *string `xml:"result>resultScore>textString"`
		} `xml:",any"`
	} `xml:"imsx_POXBody"`
}

func poxBody(op, messageID, sourcedID, score string) string {
	var result string
	if op == "replaceResultRequest" {
		result = `<result><resultScore><language>en</language><textString>` + score + `</textString></resultScore></result>`
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	b.WriteString(`<imsx_POXEnvelopeRequest xmlns="http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0">`)
	b.WriteString(`<imsx_POXHeader><imsx_POXRequestHeaderInfo><imsx_version>V1.0</imsx_version>`)
	b.WriteString(`<imsx_messageIdentifier>` + messageID + `</imsx_messageIdentifier></imsx_POXRequestHeaderInfo></imsx_POXHeader>`)
	b.WriteString(`<imsx_POXBody><` + op + `><resultRecord><sourcedGUID><sourcedId>`)
	xml.EscapeText(&b, []byte(sourcedID))
	b.WriteString(`</sourcedId></sourcedGUID>` + result + `</resultRecord></` + op + `></imsx_POXBody></imsx_POXEnvelopeRequest>`)
	return b.String()
}

// outcomeCall describes how a tool sends one outcome request, and how a
// test spoils it.
type outcomeCall struct {
	key, secret string
	body        string
	signedBody  string // the body the hash is computed over; body if empty
	contentType string
	timestamp   time.Time
	noAuth      bool
	rawHeader   bool // put values into the header without percent-encoding
	nonce       string
}

func sendOutcome(t *testing.T, p *Platform, c outcomeCall) poxResponse {
	t.Helper()
	u := p.Issuer() + "/mod/lti/service.php"
	if c.signedBody == "" {
		c.signedBody = c.body
	}
	if c.timestamp.IsZero() {
		c.timestamp = time.Now()
	}
	if c.nonce == "" {
		c.nonce = randomString(16, hexDigits)
	}
	if c.contentType == "" {
		c.contentType = "application/xml"
	}
	sum := sha1.Sum([]byte(c.signedBody))
	params := Form{
		{"oauth_version", "1.0"},
		{"oauth_nonce", c.nonce},
		{"oauth_timestamp", strconv.FormatInt(c.timestamp.Unix(), 10)},
		{"oauth_consumer_key", c.key},
		{"oauth_body_hash", base64.StdEncoding.EncodeToString(sum[:])},
		{"oauth_signature_method", "HMAC-SHA1"},
	}
	sig, err := OAuthSignature("POST", u, params, c.secret)
	require.NoError(t, err)
	params = append(params, Field{"oauth_signature", sig})
	var hdr []string
	for _, f := range params {
		v := percentEncode(f.Value)
		if c.rawHeader {
			v = f.Value
		}
		hdr = append(hdr, f.Name+`="`+v+`"`)
	}
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(c.body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", c.contentType)
	if !c.noAuth {
		req.Header.Set("Authorization", `OAuth realm="",`+strings.Join(hdr, ","))
	}
	status, h, body := do(t, nil, req)
	require.Equal(t, http.StatusOK, status, "Moodle answers outcome failures with 200 too")
	require.True(t, strings.HasPrefix(h.Get("Content-Type"), "application/xml"))
	var resp poxResponse
	require.NoError(t, xml.Unmarshal([]byte(body), &resp), body)
	return resp
}

func TestBasicOutcomes(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{})
	p.AddTool(Tool{ClientID: "c", DeploymentID: "2", ConsumerKey: "key", SharedSecret: "sec ret+&",
		LTI11LaunchURL: "http://127.0.0.1:9/lti11"})
	l := Link{ID: "2", Title: "Jupyter (LTI 1.1)", LineItem: true}
	_, form, err := p.SignLTI11(student, course, l, "key")
	require.NoError(t, err)
	sourcedID := form.Get("lis_result_sourcedid")
	require.Equal(t, p.Issuer()+"/mod/lti/service.php", form.Get("lis_outcome_service_url"))
	item := p.LineItemURL(course, l, "key")
	call := func(op, score string) outcomeCall {
		return outcomeCall{key: "key", secret: "sec ret+&", body: poxBody(op, "msg-"+op, sourcedID, score)}
	}
	read := func(t *testing.T) *string {
		t.Helper()
		r := sendOutcome(t, p, call("readResultRequest", ""))
		require.Equal(t, "success", r.CodeMajor)
		require.Equal(t, "msg-readResultRequest", r.MessageRef)
		require.Len(t, r.Body.Inner, 1)
		require.Equal(t, "readResultResponse", r.Body.Inner[0].XMLName.Local)
		require.NotNil(t, r.Body.Inner[0].Score)
		return r.Body.Inner[0].Score
	}

	// An empty gradebook reads as an empty string.
	require.Equal(t, "", *read(t))

	for _, score := range []string{"0.7", "1", "0", "0.25", " 0.5 "} {
		r := sendOutcome(t, p, call("replaceResultRequest", score))
		require.Equal(t, "success", r.CodeMajor, r.Description)
		require.Equal(t, "msg-replaceResultRequest", r.MessageRef)
		require.Equal(t, "replaceResultRequest", r.OperationRef)
		require.Equal(t, "replaceResultResponse", r.Body.Inner[0].XMLName.Local)
		v, err := strconv.ParseFloat(strings.TrimSpace(score), 64)
		require.NoError(t, err)
		require.Equal(t, strconv.FormatFloat(v, 'g', -1, 64), *read(t))
		got, _, ok := p.Grade(item, student.ID)
		require.True(t, ok)
		require.InDelta(t, v*100, *got, 1e-9, "stored on the column's 0-100 scale")
	}

	r := sendOutcome(t, p, call("deleteResultRequest", ""))
	require.Equal(t, "success", r.CodeMajor)
	require.Equal(t, "", *read(t))
	got, _, ok := p.Grade(item, student.ID)
	require.True(t, ok)
	require.Nil(t, got)

	unsupported := sendOutcome(t, p, call("readMembershipRequest", ""))
	require.Equal(t, "unsupported", unsupported.CodeMajor)
	require.Equal(t, "msg-readMembershipRequest", unsupported.MessageRef)
	require.Equal(t, "readMembershipRequest", unsupported.OperationRef)
}

func TestBasicOutcomeFailures(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{})
	p.AddTool(Tool{ClientID: "c", DeploymentID: "2", ConsumerKey: "key", SharedSecret: "secret",
		LTI11LaunchURL: "http://127.0.0.1:9/lti11"})
	p.AddTool(Tool{ClientID: "c2", DeploymentID: "3", ConsumerKey: "key2", SharedSecret: "secret2",
		LTI11LaunchURL: "http://127.0.0.1:9/other"})
	l := Link{ID: "2", Title: "Graded", LineItem: true}
	_, form, err := p.SignLTI11(student, course, l, "key")
	require.NoError(t, err)
	sourcedID := form.Get("lis_result_sourcedid")
	var env sourcedEnvelope
	require.NoError(t, json.Unmarshal([]byte(sourcedID), &env))
	forged := func(mutate func(*sourcedEnvelope)) string {
		e := env
		mutate(&e)
		b, err := json.Marshal(e)
		require.NoError(t, err)
		return string(b)
	}
	_, ungradedForm, err := p.SignLTI11(student, course, Link{ID: "3", Title: "Ungraded"}, "key")
	require.NoError(t, err)
	require.False(t, ungradedForm.Has("lis_result_sourcedid"))

	replace := func(score string) string { return poxBody("replaceResultRequest", "m1", sourcedID, score) }
	for _, tc := range []struct {
		name     string
		call     outcomeCall
		wantDesc string
		wantRef  string
	}{
		{"score above 1", outcomeCall{body: replace("1.5")}, "Score not between 0.0 and 1.0", "m1"},
		{"negative score", outcomeCall{body: replace("-0.1")}, "Score not between 0.0 and 1.0", "m1"},
		{"score not numeric", outcomeCall{body: replace("abc")}, "Score must be numeric", "m1"},
		{"empty score", outcomeCall{body: replace("")}, "Score must be numeric", "m1"},
		{"NaN score", outcomeCall{body: replace("NaN")}, "Score must be numeric", "m1"},
		{"hex score", outcomeCall{body: replace("0x1p-1")}, "Score must be numeric", "m1"},
		{"percent score", outcomeCall{body: replace("70%")}, "Score must be numeric", "m1"},
		{"body changed after signing", outcomeCall{body: replace("0.9"), signedBody: replace("0.1")},
			"OAuth oauth_body_hash mismatch", ""},
		{"wrong secret", outcomeCall{body: replace("0.5"), secret: "guess"}, "Message signature not valid", ""},
		{"another tool's consumer key", outcomeCall{body: replace("0.5"), key: "key2", secret: "secret2"},
			"SourcedId belongs to another tool", "m1"},
		{"unknown consumer", outcomeCall{body: replace("0.5"), key: "nobody"}, "Message signature not valid", ""},
		{"form encoded", outcomeCall{body: replace("0.5"), contentType: "application/x-www-form-urlencoded"},
			"OAuth request body signing must not use application/x-www-form-urlencoded", ""},
		{"no authorization", outcomeCall{body: replace("0.5"), noAuth: true}, "Consumer key is missing.", ""},
		{"expired timestamp", outcomeCall{body: replace("0.5"), timestamp: time.Now().Add(-301 * time.Second)},
			"Expired timestamp", ""},
		{"unencoded plus in header", outcomeCall{body: replace("0.5"), rawHeader: true, nonce: "a+b"},
			"Message signature not valid", ""},
		{"forged hash", outcomeCall{body: poxBody("replaceResultRequest", "m2",
			forged(func(e *sourcedEnvelope) { e.Hash = strings.Repeat("0", 64) }), "1")}, "SourcedId hash not valid", "m2"},
		{"other user in sourcedid", outcomeCall{body: poxBody("replaceResultRequest", "m3",
			forged(func(e *sourcedEnvelope) { e.Data.UserID = "3" }), "1")}, "SourcedId hash not valid", "m3"},
		{"sourcedid of an ungraded activity", outcomeCall{body: poxBody("replaceResultRequest", "m4",
			forged(func(e *sourcedEnvelope) { e.Data.InstanceID = "3" }), "1")}, "Tool does not accept grades", "m4"},
		{"sourcedid not json", outcomeCall{body: poxBody("readResultRequest", "m5", "4:2:abc", "")},
			"Invalid sourcedId in result message", "m5"},
		{"not xml", outcomeCall{body: "replaceResult=1"}, "invalid XML", ""},
		{"xml entity expansion", outcomeCall{body: `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>` +
			`<imsx_POXEnvelopeRequest><imsx_POXBody><readResultRequest><resultRecord><sourcedGUID><sourcedId>&x;</sourcedId>` +
			`</sourcedGUID></resultRecord></readResultRequest></imsx_POXBody></imsx_POXEnvelopeRequest>`}, "invalid XML", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := tc.call
			if c.key == "" {
				c.key, c.secret = "key", cmpOr(c.secret, "secret")
			}
			r := sendOutcome(t, p, c)
			require.Equal(t, "failure", r.CodeMajor)
			if tc.wantDesc != "" {
				require.Equal(t, tc.wantDesc, r.Description)
			}
			require.Equal(t, tc.wantRef, r.MessageRef)
			_, _, ok := p.Grade(p.LineItemURL(course, l, "key"), student.ID)
			require.False(t, ok, "a failed request must not grade")
		})
	}
}

func cmpOr(v, fallback string) string {
	if v != "" {
		return v
	}
	return fallback
}

// Moodle's OAuth server does not check timestamps in the future, and keeps
// no nonces: the same request may be sent twice.
func TestBasicOutcomeLeniency(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{})
	p.AddTool(Tool{ClientID: "c", ConsumerKey: "key", SharedSecret: "secret", LTI11LaunchURL: "http://127.0.0.1:9/l"})
	l := Link{ID: "2", LineItem: true}
	_, form, err := p.SignLTI11(student, course, l, "key")
	require.NoError(t, err)
	c := outcomeCall{key: "key", secret: "secret", nonce: "same",
		body: poxBody("replaceResultRequest", "m", form.Get("lis_result_sourcedid"), "0.5"), timestamp: time.Now().Add(time.Hour)}
	for i := range 2 {
		require.Equal(t, "success", sendOutcome(t, p, c).CodeMajor, fmt.Sprint(i))
	}
}

// With the Authorization header dropped by a proxy, outcome requests fail.
func TestBasicOutcomeWithoutAuthorizationHeader(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{DropAuthorizationHeader: true})
	p.AddTool(Tool{ClientID: "c", ConsumerKey: "key", SharedSecret: "secret", LTI11LaunchURL: "http://127.0.0.1:9/l"})
	_, form, err := p.SignLTI11(student, course, Link{ID: "2", LineItem: true}, "key")
	require.NoError(t, err)
	r := sendOutcome(t, p, outcomeCall{key: "key", secret: "secret",
		body: poxBody("readResultRequest", "m", form.Get("lis_result_sourcedid"), "")})
	require.Equal(t, "failure", r.CodeMajor)
	require.Equal(t, "Consumer key is missing.", r.Description)
}

// The same activity id in two courses keeps two gradebook columns; each
// sourcedid grades its own.
func TestBasicOutcomesSameActivityIDInTwoCourses(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{})
	p.AddTool(Tool{ClientID: "c", ConsumerKey: "key", SharedSecret: "secret", LTI11LaunchURL: "http://127.0.0.1:9/l"})
	l := Link{ID: "2", LineItem: true}
	other := Course{ID: "5", Label: "OTHER", Title: "Other course"}
	for i, c := range []Course{course, other} {
		_, form, err := p.SignLTI11(student, c, l, "key")
		require.NoError(t, err)
		score := []string{"0.25", "0.75"}[i]
		r := sendOutcome(t, p, outcomeCall{key: "key", secret: "secret",
			body: poxBody("replaceResultRequest", "m", form.Get("lis_result_sourcedid"), score)})
		require.Equal(t, "success", r.CodeMajor, r.Description)
	}
	for c, want := range map[Course]float64{course: 25, other: 75} {
		got, _, ok := p.Grade(p.LineItemURL(c, l, "key"), student.ID)
		require.True(t, ok)
		require.InDelta(t, want, *got, 1e-9, c.ID)
	}
}
