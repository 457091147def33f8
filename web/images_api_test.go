package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/store"
)

// The images API is for administrators' tokens only and manages the
// catalog with the same checks as the console.
func TestImagesAPI(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a := auth.New(h.db, nil, nil)
	token := func(name string, admin bool, scopes ...string) string {
		u := store.User{Name: name, Admin: admin}
		require.NoError(t, h.db.Create(&u).Error)
		v, err := a.IssueToken(ctx, nil, store.Token{Kind: store.TokenAPI, UserID: u.ID, Scopes: auth.EncodeScopes(scopes)})
		require.NoError(t, err)
		return v
	}
	admin, user, narrow := token("root", true), token("pat", false), token("ops", true, "read:users")
	call := func(tok, method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, h.hub.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	status, _ := call("", http.MethodGet, "/api/images", "")
	require.Equal(t, http.StatusUnauthorized, status)
	status, _ = call(user, http.MethodGet, "/api/images", "")
	require.Equal(t, http.StatusForbidden, status, "only administrators")
	status, _ = call(narrow, http.MethodGet, "/api/images", "")
	require.Equal(t, http.StatusForbidden, status, "a token limited to other scopes")

	status, body := call(admin, http.MethodPost, "/api/images",
		`{"name":"net-lab","ref":"127.0.0.1:5000/netlab:1","description":"Networking","mem_default":536870912,"mem_max":2147483648,"cpu_max":2}`)
	require.Equal(t, http.StatusCreated, status, body)
	var img struct {
		Name, Ref  string
		MemDefault int64   `json:"mem_default"`
		CPUMax     float64 `json:"cpu_max"`
		Present    bool
		Courses    int
	}
	require.NoError(t, json.Unmarshal([]byte(body), &img))
	require.Equal(t, "net-lab", img.Name)
	require.EqualValues(t, 512<<20, img.MemDefault)
	require.EqualValues(t, 2, img.CPUMax)
	require.False(t, img.Present, "the engine does not have it")

	status, body = call(admin, http.MethodPost, "/api/images", `{"name":"Bad Name","ref":"x"}`)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "lower-case")
	status, _ = call(admin, http.MethodPost, "/api/images", `not json`)
	require.Equal(t, http.StatusBadRequest, status)
	status, body = call(admin, http.MethodPost, "/api/images", `{"name":"x","ref":"x","mem_max":"4G"}`)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "mem_max must be a JSON whole number (memory in bytes")
	status, body = call(admin, http.MethodPost, "/api/images", `{"name":"x","ref":"x","cpu_max":1e300}`)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "cpu_max: not a number of CPU cores")

	status, body = call(admin, http.MethodPut, "/api/images/net-lab", `{"ref":"127.0.0.1:5000/netlab:2"}`)
	require.Equal(t, http.StatusOK, status, body)
	status, body = call(admin, http.MethodGet, "/api/images", "")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "netlab:2")
	status, _ = call(admin, http.MethodGet, "/api/images/missing", "")
	require.Equal(t, http.StatusNotFound, status)

	// An image a course uses stays.
	var stored store.Image
	require.NoError(t, h.db.Where("name = ?", "net-lab").First(&stored).Error)
	c := store.Course{Provider: "p", ContextID: "c", Slug: "net", ImageID: &stored.ID}
	require.NoError(t, h.db.Create(&c).Error)
	status, body = call(admin, http.MethodDelete, "/api/images/net-lab", "")
	require.Equal(t, http.StatusConflict, status)
	require.Contains(t, body, "net")
	require.NoError(t, h.db.Model(&c).Update("image_id", nil).Error)
	status, _ = call(admin, http.MethodDelete, "/api/images/net-lab", "")
	require.Equal(t, http.StatusNoContent, status)
	status, _ = call(admin, http.MethodDelete, "/api/images/net-lab", "")
	require.Equal(t, http.StatusNotFound, status)

	var log []store.AuditEntry
	require.NoError(t, h.db.Order("id").Find(&log).Error)
	require.Len(t, log, 3)
	require.Equal(t, "image.put", log[0].Action)
	require.Equal(t, "root", log[0].Actor)
	require.Equal(t, "image.delete", log[2].Action)
}
