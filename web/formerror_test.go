package web_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A form that cannot be read is told apart from one with a stale token:
// too large is 413, malformed is 400, and only a bad token is 403.
func TestUnreadableForms(t *testing.T) {
	g := newGrading(t, false)
	teacher := g.launch(t, gTeacher)
	_, body := page(t, teacher, g.hub.URL+g.path(t, "/grades"))
	csrf := csrfOf(t, body)

	post := func(u, field, name string, content []byte, token string) (int, string) {
		t.Helper()
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, err := mw.CreateFormFile(field, name)
		require.NoError(t, err)
		_, err = fw.Write(content)
		require.NoError(t, err)
		require.NoError(t, mw.WriteField("_csrf", token))
		require.NoError(t, mw.Close())
		resp, err := teacher.Post(g.hub.URL+u, mw.FormDataContentType(), &buf)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	importPath := g.path(t, "/grades/import")
	materials := "/hub/courses/" + g.slug + "/materials"
	big := bytes.Repeat([]byte("student1,5\n"), 2<<20) // 22 MB

	status, body := post(importPath, "file", "grades.csv", big, csrf)
	require.Equal(t, http.StatusRequestEntityTooLarge, status)
	require.Contains(t, body, "The upload is too large (at most 5 MiB)")

	status, body = post(importPath, "file", "gra\x00des.csv", []byte("username,score\n"), csrf)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "The form could not be read")

	status, body = post(materials, "files", "no\x00tes.txt", []byte("x"), csrf)
	require.Equal(t, http.StatusBadRequest, status, body)
	require.Contains(t, body, "The form could not be read")

	status, body = post(materials, "files", "notes.txt", []byte("x"), "stale")
	require.Equal(t, http.StatusForbidden, status)
	require.Contains(t, body, "This form has expired")

	status, _ = post(importPath, "file", "grades.csv", []byte("x"), "stale")
	require.Equal(t, http.StatusForbidden, status)

	// A plain form too large for parseForm.
	resp, err := teacher.Post(g.hub.URL+"/hub/courses/"+g.slug+"/settings", "application/x-www-form-urlencoded",
		strings.NewReader("_csrf="+csrf+"&x="+strings.Repeat("a", 2<<20)))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	require.Contains(t, string(b), "The upload is too large")
}
