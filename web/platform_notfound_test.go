package web_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// Changing a platform that does not exist is a 404, whether the id is a
// number or not.
func TestUpdateUnknownPlatform(t *testing.T) {
	h := newHarness(t)
	c := h.adminClient(true)
	_, _, body := getPage(t, c, h.hub.URL+"/hub/admin/lti")
	csrf := csrfOf(t, body)
	for _, id := range []string{"abc", "999"} {
		for _, v := range []url.Values{
			{"policy": {"add"}},
			{"origins": {"https://lms.example"}},
			{"add_deployment": {"d1"}},
			{},
		} {
			v.Set("_csrf", csrf)
			status, b, _ := post(t, c, h.hub.URL+"/hub/admin/lti/platforms/"+id, v)
			require.Equal(t, http.StatusNotFound, status, "%s %v", id, v)
			require.Contains(t, b, "No such platform")
			require.NotContains(t, b, "not found not found")
		}
	}
}
