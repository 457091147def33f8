package web_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/store"
)

// The site audit log is for administrators only; others get the 404 of a
// page that does not exist.
func TestAdminAudit(t *testing.T) {
	h := newHarness(t)
	require.NoError(t, h.db.Create(&store.AuditEntry{CreatedAt: time.Now(), ActorID: 1, Actor: "teacher1",
		Action: "help_open", Course: "lti101", Subject: "student1", Detail: "opened for help"}).Error)
	get := func(admin bool, name string) (int, string) {
		u := store.User{Name: name, Admin: admin}
		require.NoError(t, h.db.Create(&u).Error)
		cookie, _, err := h.auth.NewSession(context.Background(), nil, u.ID, "native")
		require.NoError(t, err)
		req, err := http.NewRequest("GET", h.hub.URL+"/hub/admin/audit", nil)
		require.NoError(t, err)
		req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: cookie})
		resp, err := h.client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := get(true, "root-admin")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "Audit log")
	require.Contains(t, body, "help_open")
	require.Contains(t, body, "student1")
	require.Contains(t, body, "lti101")

	status, body = get(false, "student9")
	require.Equal(t, http.StatusNotFound, status)
	require.NotContains(t, body, "help_open")

	resp, err := h.client().Get(h.hub.URL + "/hub/admin/audit")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode, "without a session, the login page")
}
