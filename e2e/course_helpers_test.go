package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/lms"
)

var csrfRE = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// csrf returns the form token a page carries.
func csrf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	require.NotNil(t, m, "the page has no form token")
	return m[1]
}

// noRedirect returns a client sharing c's cookies that does not follow
// redirects.
func noRedirect(c *http.Client) *http.Client {
	return &http.Client{Jar: c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// postForm posts a form without following the redirect and returns status,
// Location and body.
func postForm(t *testing.T, c *http.Client, u string, form url.Values) (int, string, string) {
	t.Helper()
	resp, err := noRedirect(c).PostForm(u, form)
	require.NoError(t, err)
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return resp.StatusCode, resp.Header.Get("Location"), b.String()
}

// launchTo launches u into c from link l over LTI 1.3 and returns the
// status and Location of Labhub's answer.
func (e *env) launchTo(t *testing.T, b *lms.Browser, u lms.User, c lms.Course, l lms.Link) (int, string) {
	t.Helper()
	resp, err := b.LaunchLTI13(context.Background(), u, c, l, e.clientID)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// sessionCookie returns the hub session cookie in b's jar.
func sessionCookie(t *testing.T, b *lms.Browser, hubURL string) string {
	t.Helper()
	u, _ := url.Parse(hubURL)
	for _, c := range b.Client.Jar.Cookies(u) {
		if c.Name == auth.SessionCookie {
			return c.Value
		}
	}
	t.Fatal("no hub session in the jar")
	return ""
}

// useSession puts a hub session into the browser, replacing any other.
func useSession(hubURL, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.SetCookie, network.SetCookieParams{Name: auth.SessionCookie, Value: value,
			URL: hubURL})
		return err
	})
}

// progressEvents reads a server's progress stream to its final event and
// returns the messages and whether it ended ready.
func progressEvents(t *testing.T, c *http.Client, hubURL, user, server string) ([]string, bool) {
	t.Helper()
	resp, err := c.Get(hubURL + "hub/api/users/" + url.PathEscape(user) + "/servers/" + url.PathEscape(server) + "/progress")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var msgs []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev struct {
			Ready, Failed bool
			Message       string
		}
		require.NoError(t, json.Unmarshal([]byte(data), &ev))
		msgs = append(msgs, ev.Message)
		if ev.Ready || ev.Failed {
			return msgs, ev.Ready
		}
	}
	t.Fatalf("progress ended early: %v", msgs)
	return nil, false
}
