package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Unknown addresses and methods get Labhub's error page, or JSON under the
// APIs, and a wrong method keeps the Allow header.
func TestNoRouteAndNoMethod(t *testing.T) {
	h := newHarness(t)
	do := func(method, path string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, h.hub.URL+path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := do(http.MethodGet, "/hub/courses/x/end")
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	require.Equal(t, "POST", resp.Header.Get("Allow"))
	require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	require.Contains(t, body, "method_not_allowed")

	resp, body = do(http.MethodGet, "/nowhere")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	require.Contains(t, body, "not_found")

	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodPut, "/hub/api/user", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/api/images", http.StatusMethodNotAllowed},
		{http.MethodGet, "/hub/api/nothing", http.StatusNotFound},
		{http.MethodGet, "/api/nothing", http.StatusNotFound},
	} {
		resp, body := do(tc.method, tc.path)
		require.Equal(t, tc.status, resp.StatusCode, tc.path)
		require.Contains(t, resp.Header.Get("Content-Type"), "application/json", tc.path)
		var got struct {
			Status  int
			Message string
		}
		require.NoError(t, json.Unmarshal([]byte(body), &got), body)
		require.Equal(t, tc.status, got.Status)
		if tc.status == http.StatusMethodNotAllowed {
			require.True(t, strings.Contains(resp.Header.Get("Allow"), "GET"), tc.path)
		}
	}
}
