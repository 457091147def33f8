package lti_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lms"
	"github.com/labhub/labhub/lti"
)

// outcomeFixture is a Moodle-like platform with an LTI 1.1 tool and a
// student's launch of a graded activity.
type outcomeFixture struct {
	p    *lms.Platform
	svc  lti.OutcomeService
	item string
}

var (
	outcomeStudent = lms.User{ID: "4", Username: "student1", Roles: []string{lms.RoleLearner}}
	outcomeCourse  = lms.Course{ID: "2", Label: "LTI101", Title: "LTI course"}
	outcomeLink    = lms.Link{ID: "7", Title: "Graded lab", LineItem: true}
)

func newOutcomeFixture(t *testing.T) *outcomeFixture {
	p, err := lms.New(lms.Options{})
	require.NoError(t, err)
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	p.SetIssuer(srv.URL)
	// A secret that needs percent-encoding in the signing key.
	p.AddTool(lms.Tool{ClientID: "c", DeploymentID: "3", ConsumerKey: "key", SharedSecret: "s3cret&+ %",
		LTI11LaunchURL: "http://127.0.0.1:9/lti11"})
	_, form, err := p.SignLTI11(outcomeStudent, outcomeCourse, outcomeLink, "key")
	require.NoError(t, err)
	sourced := form.Get("lis_result_sourcedid")
	require.Contains(t, sourced, `"`, "Moodle's sourcedid is JSON and needs XML escaping")
	return &outcomeFixture{p: p, item: p.LineItemURL(outcomeCourse, outcomeLink, "key"),
		svc: lti.OutcomeService{URL: form.Get("lis_outcome_service_url"), SourcedID: sourced,
			Key: "key", Secret: "s3cret&+ %"}}
}

func TestOutcomeReplaceReadDelete(t *testing.T) {
	f := newOutcomeFixture(t)
	ctx := context.Background()
	c := &lti.OutcomeClient{}

	got, err := c.Read(ctx, f.svc)
	require.NoError(t, err)
	require.Nil(t, got, "no result yet")

	require.NoError(t, c.Replace(ctx, f.svc, 0.7))
	score, _, ok := f.p.Grade(f.item, outcomeStudent.ID)
	require.True(t, ok)
	require.InDelta(t, 70, *score, 1e-9, "Moodle stores the fraction on its 100-point column")
	got, err = c.Read(ctx, f.svc)
	require.NoError(t, err)
	require.NotNil(t, got)
	require.InDelta(t, 0.7, *got, 1e-12)

	// Scores that need many digits still go out without an exponent.
	require.NoError(t, c.Replace(ctx, f.svc, 1.0/3))
	got, err = c.Read(ctx, f.svc)
	require.NoError(t, err)
	require.InDelta(t, 1.0/3, *got, 1e-12)
	require.NoError(t, c.Replace(ctx, f.svc, 0.0000001))
	require.NoError(t, c.Replace(ctx, f.svc, 1))

	require.NoError(t, c.Delete(ctx, f.svc))
	score, _, ok = f.p.Grade(f.item, outcomeStudent.ID)
	require.True(t, ok)
	require.Nil(t, score, "deleteResult clears the grade")
	got, err = c.Read(ctx, f.svc)
	require.NoError(t, err)
	require.Nil(t, got)
}

// The service URL is signed with its query, and the query is sent.
func TestOutcomeServiceURLQueryKept(t *testing.T) {
	f := newOutcomeFixture(t)
	svc := f.svc
	svc.URL += "?type_id=3&x=a+b"
	require.NoError(t, (&lti.OutcomeClient{}).Replace(context.Background(), svc, 0.5))
	score, _, _ := f.p.Grade(f.item, outcomeStudent.ID)
	require.InDelta(t, 50, *score, 1e-9)
}

// tamper changes outgoing request bodies after they were signed.
type tamper struct{ from, to string }

func (tp tamper) RoundTrip(r *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(r.Body)
	b = bytes.Replace(b, []byte(tp.from), []byte(tp.to), 1)
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(b))
	r2.ContentLength = int64(len(b))
	return http.DefaultTransport.RoundTrip(r2)
}

func TestOutcomeRefusals(t *testing.T) {
	f := newOutcomeFixture(t)
	ctx := context.Background()
	permanent := func(t *testing.T, err error, desc string) {
		t.Helper()
		var oe *lti.OutcomeError
		require.ErrorAs(t, err, &oe)
		require.True(t, oe.Permanent, "%v", err)
		require.Equal(t, "failure", oe.CodeMajor)
		require.Equal(t, desc, oe.Description)
	}

	bad := f.svc
	bad.Secret = "guess"
	permanent(t, (&lti.OutcomeClient{}).Replace(ctx, bad, 0.5), "Message signature not valid")

	// The body hash binds the body: a changed score is refused.
	tampered := &lti.OutcomeClient{Client: &http.Client{Transport: tamper{"<textString>0.5<", "<textString>0.9<"}}}
	permanent(t, tampered.Replace(ctx, f.svc, 0.5), "OAuth oauth_body_hash mismatch")

	forged := f.svc
	forged.SourcedID = strings.Replace(forged.SourcedID, `"userid":"4"`, `"userid":"3"`, 1)
	permanent(t, (&lti.OutcomeClient{}).Replace(ctx, forged, 0.5), "SourcedId hash not valid")

	// A clock five minutes behind makes Moodle call the request expired.
	late := &lti.OutcomeClient{Now: func() time.Time { return time.Now().Add(-301 * time.Second) }}
	permanent(t, late.Replace(ctx, f.svc, 0.5), "Expired timestamp")

	for _, v := range []float64{-0.1, 1.01} {
		err := (&lti.OutcomeClient{}).Replace(ctx, f.svc, v)
		var oe *lti.OutcomeError
		require.ErrorAs(t, err, &oe)
		require.True(t, oe.Permanent)
		require.Zero(t, oe.Status, "refused before sending")
	}
	_, _, ok := f.p.Grade(f.item, outcomeStudent.ID)
	require.False(t, ok, "nothing was graded")

	f.p.SetDown(true)
	err := (&lti.OutcomeClient{}).Replace(ctx, f.svc, 0.5)
	var oe *lti.OutcomeError
	require.ErrorAs(t, err, &oe)
	require.False(t, oe.Permanent, "an LMS that is down is worth trying again")
	require.Equal(t, http.StatusServiceUnavailable, oe.Status)
	f.p.SetDown(false)

	unreachable := f.svc
	unreachable.URL = "http://127.0.0.1:1/mod/lti/service.php"
	err = (&lti.OutcomeClient{}).Replace(ctx, unreachable, 0.5)
	require.ErrorAs(t, err, &oe)
	require.False(t, oe.Permanent)
}

func TestOutcomeRequestBody(t *testing.T) {
	sourced := `{"data":{"instanceid":"1","userid":"<&>"},"hash":"x'y"}`
	b, err := lti.OutcomeRequestBody(lti.OutcomeReplace, "m-1", sourced, 0.25)
	require.NoError(t, err)
	var env struct {
		XMLName   xml.Name
		MessageID string `xml:"imsx_POXHeader>imsx_POXRequestHeaderInfo>imsx_messageIdentifier"`
		Version   string `xml:"imsx_POXHeader>imsx_POXRequestHeaderInfo>imsx_version"`
		SourcedID string `xml:"imsx_POXBody>replaceResultRequest>resultRecord>sourcedGUID>sourcedId"`
		Score     string `xml:"imsx_POXBody>replaceResultRequest>resultRecord>result>resultScore>textString"`
		Language  string `xml:"imsx_POXBody>replaceResultRequest>resultRecord>result>resultScore>language"`
	}
	require.NoError(t, xml.Unmarshal(b, &env))
	require.Equal(t, "imsx_POXEnvelopeRequest", env.XMLName.Local)
	require.Equal(t, "http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0", env.XMLName.Space)
	require.Equal(t, "m-1", env.MessageID)
	require.Equal(t, "V1.0", env.Version)
	require.Equal(t, sourced, env.SourcedID, "the sourcedid comes back verbatim")
	require.Equal(t, "0.25", env.Score)
	require.Equal(t, "en", env.Language)
	require.NotContains(t, string(b), "<&>")

	for _, op := range []string{lti.OutcomeRead, lti.OutcomeDelete} {
		b, err := lti.OutcomeRequestBody(op, "m", "s", 0)
		require.NoError(t, err)
		require.Contains(t, string(b), "<"+op+"Request>")
		require.NotContains(t, string(b), "resultScore")
	}
	_, err = lti.OutcomeRequestBody("dropTables", "m", "s", 0)
	require.Error(t, err)
}

func TestParseOutcomeResponse(t *testing.T) {
	r, err := lti.ParseOutcomeResponse([]byte(`<?xml version="1.0" encoding="UTF-8"?>
<imsx_POXEnvelopeResponse xmlns="http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0">
<imsx_POXHeader><imsx_POXResponseHeaderInfo><imsx_version>V1.0</imsx_version>
<imsx_messageIdentifier>1</imsx_messageIdentifier><imsx_statusInfo><imsx_codeMajor>success</imsx_codeMajor>
<imsx_severity>status</imsx_severity><imsx_description>Result read</imsx_description>
<imsx_messageRefIdentifier>m-9</imsx_messageRefIdentifier></imsx_statusInfo></imsx_POXResponseHeaderInfo></imsx_POXHeader>
<imsx_POXBody><readResultResponse><result><resultScore><language>en</language><textString>0.42</textString>
</resultScore></result></readResultResponse></imsx_POXBody></imsx_POXEnvelopeResponse>`))
	require.NoError(t, err)
	require.Equal(t, "success", r.CodeMajor)
	require.Equal(t, "Result read", r.Description)
	require.Equal(t, "m-9", r.MessageRef)
	require.Equal(t, "0.42", *r.Score)

	_, err = lti.ParseOutcomeResponse([]byte(`<html><body>Moodle is being upgraded</body></html>`))
	require.Error(t, err)
}
