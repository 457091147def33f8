package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
)

var csrfInput = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// loginForm posts the login form the way a browser does and returns the
// status and page.
func loginForm(t *testing.T, c *http.Client, base string, form url.Values) (int, string) {
	t.Helper()
	_, page := get(t, c, base+"hub/login")
	m := csrfInput.FindStringSubmatch(page)
	require.NotNil(t, m, page)
	form.Set("_csrf", m[1])
	resp, err := c.PostForm(base+"hub/login", form)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func noRedirects() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// The labhub command with the old deployment's AUTH_MODE and LDAP_*
// variables: LDAP logins against a real slapd, a native administrator
// made with the command line, and a lockout that outlives a restart.
func TestFallbackLogins(t *testing.T) {
	ldap := testutil.StartSlapd(t)
	h := newHub(t, "--login-max-failures", "3")
	h.extraEnv = []string{
		"AUTH_MODE=native,ldap",
		"LDAP_server_address=" + ldap.Host,
		fmt.Sprintf("LDAP_server_port=%d", ldap.Port),
		"LABHUB_LDAP_CA_FILE=" + ldap.CAFile,
		"LDAP_bind_dn_template=uid={username},ou=nowhere,dc=example,dc=org;uid={username},ou=people,dc=example,dc=org",
		"LDAP_allowed_groups=" + testutil.SlapdStudentsGroup + ";" + testutil.SlapdStaffGroup,
	}
	add := exec.Command(labhubBin, "account", "add", "admin", "--admin", "--data-dir", h.dir)
	add.Env = append(h.env(), "LABHUB_PASSWORD=marmalade-quartz-heron")
	out, err := add.CombinedOutput()
	require.NoError(t, err, string(out))
	h.Start()

	c := noRedirects()
	status, page := get(t, c, h.URL+"hub/login")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, "institution account")
	require.Contains(t, page, "Labhub account")

	status, _ = loginForm(t, c, h.URL, url.Values{"method": {"ldap"}, "username": {"bob"}, "password": {testutil.SlapdBobPass}})
	require.Equal(t, http.StatusSeeOther, status)
	status, page = get(t, c, h.URL+"hub/home")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, "bob")
	status, _ = loginForm(t, noRedirects(), h.URL, url.Values{"method": {"ldap"}, "username": {"carol"}, "password": {testutil.SlapdCarolPass}})
	require.Equal(t, http.StatusUnauthorized, status, "carol is in no allowed group")

	status, _ = loginForm(t, noRedirects(), h.URL, url.Values{"method": {"native"}, "username": {"admin"}, "password": {"marmalade-quartz-heron"}})
	require.Equal(t, http.StatusSeeOther, status)
	for i := range 3 {
		status, _ = loginForm(t, noRedirects(), h.URL, url.Values{"method": {"native"}, "username": {"admin"}, "password": {"guess-number-" + fmt.Sprint(i)}})
	}
	require.Equal(t, http.StatusTooManyRequests, status)

	h.Stop(syscall.SIGTERM)
	h.Start()
	status, page = loginForm(t, noRedirects(), h.URL, url.Values{"method": {"native"}, "username": {"admin"}, "password": {"marmalade-quartz-heron"}})
	require.Equal(t, http.StatusTooManyRequests, status, "the lockout outlives the restart")
	require.Contains(t, page, "Too many failed logins")

	logs := h.logs.String()
	require.Contains(t, logs, `msg="failed login" method=native user=admin remote_addr=127.0.0.1`)
	for _, secret := range []string{"marmalade-quartz-heron", testutil.SlapdBobPass, testutil.SlapdCarolPass, "guess-number-"} {
		require.False(t, strings.Contains(logs, secret), "the log holds a password")
	}
}
