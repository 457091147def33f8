package lms

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// The login initiation has Moodle's fields in Moodle's order, and a message
// hint of the same JSON shape.
func TestLoginInitiationMatchesMoodle(t *testing.T) {
	t.Parallel()
	var captured moodleLaunch
	require.NoError(t, json.Unmarshal(readTestdata(t, "lti13-student-login-initiation.json"), &captured))
	var want Form
	for _, kv := range captured.Fields {
		want = append(want, Field{kv[0], kv[1]})
	}

	p, _ := newTestPlatform(t, Options{})
	p.AddTool(Tool{ClientID: fixtureClientID, DeploymentID: "1", LoginURL: "http://127.0.0.1:9000/lti13/login",
		TargetLinkURI: "http://127.0.0.1:9000/lti13/launch"})
	action, got, err := p.loginInitiation(student, course, link, fixtureClientID)
	require.NoError(t, err)
	require.Equal(t, captured.Action, action)
	require.Equal(t, fieldNames(want), fieldNames(got))
	for _, name := range []string{"target_link_uri", "login_hint", "client_id", "lti_deployment_id"} {
		require.Equal(t, want.Get(name), got.Get(name), name)
	}
	require.Equal(t, p.Issuer(), got.Get("iss"))

	hintShape := regexp.MustCompile(`^\{"cmid":\d+,"launchid":"ltilaunch(\d+)_\d+"\}$`)
	require.Regexp(t, hintShape, want.Get("lti_message_hint"))
	m := hintShape.FindStringSubmatch(got.Get("lti_message_hint"))
	require.NotNil(t, m, got.Get("lti_message_hint"))
	require.Equal(t, link.ID, m[1], "the launchid names the activity instance")

	// Each initiation is a new pending launch.
	_, again, err := p.loginInitiation(student, course, link, fixtureClientID)
	require.NoError(t, err)
	require.NotEqual(t, got.Get("lti_message_hint"), again.Get("lti_message_hint"))

	// The exported form carries the same values.
	_, values, err := p.LoginInitiation(student, course, link, fixtureClientID)
	require.NoError(t, err)
	require.Equal(t, student.ID, values.Get("login_hint"))
	require.Len(t, values, 6)
}

func TestLoginInitiationErrors(t *testing.T) {
	t.Parallel()
	p, err := New(Options{})
	require.NoError(t, err)
	p.AddTool(Tool{ClientID: "c", LoginURL: "http://127.0.0.1:9/login"})
	p.AddTool(Tool{ClientID: "nologin"})
	p.AddTool(Tool{ConsumerKey: "only11"})
	for _, tc := range []struct{ name, client, want string }{
		{"no issuer yet", "c", "no issuer"},
		{"unknown client", "x", "no tool"},
		{"tool without login url", "nologin", "no login URL"},
		{"consumer key is not a client id", "only11", "no tool"},
	} {
		_, _, err := p.LoginInitiation(student, course, link, tc.client)
		require.ErrorContains(t, err, tc.want, tc.name)
	}
}
