package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lms"
)

// An LMS administrator registers Labhub with Moodle's "Add LTI Advantage"
// and a registration URL from `labhub lti13 invite`; after activating the
// tool, students launch into their notebooks.
func TestDynamicRegistrationEndToEnd(t *testing.T) {
	h := newHub(t)
	p, err := lms.New(lms.Options{})
	require.NoError(t, err)
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	p.SetIssuer(srv.URL)
	h.Start()
	registration := strings.TrimSpace(h.CLI("lti13", "invite", h.URL, "--note", "moodle"))
	registration = strings.Split(registration, "\n")[0]
	require.True(t, strings.HasPrefix(registration, h.URL+"lti/register?invite="), registration)

	start, err := p.StartRegistration(registration)
	require.NoError(t, err)
	status, page := get(t, http.DefaultClient, start)
	require.Equal(t, http.StatusOK, status, page)
	require.Contains(t, page, "Labhub is registered")
	tools := p.Tools()
	require.Len(t, tools, 1)
	require.Contains(t, h.CLI("lti13", "list"), tools[0].ClientID)
	require.NoError(t, p.ActivateTool(tools[0].ClientID))

	e := &env{hub: h, platform: p, clientID: tools[0].ClientID}
	student := uniqueStudent("r")
	b := browser(t, p)
	resp, err := b.LaunchLTI13(context.Background(), student, course101, lab1, e.clientID)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	server := waitForServer(t, b.Client, h.URL, student.Username, "lti101")
	status, _ = get(t, b.Client, server)
	require.Equal(t, http.StatusOK, status)
	out, errText := (&jupyter{t: t, client: b.Client, base: server}).run("print(6*7)")
	require.Empty(t, errText)
	require.Equal(t, "42\n", out)
}
