package lms

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNewRejectsBadIssuers(t *testing.T) {
	t.Parallel()
	for _, iss := range []string{"example.com", "/demo", "ftp://example.com", "http://", "http://x/?a=b", "http://[::1"} {
		_, err := New(Options{Issuer: iss})
		require.Error(t, err, iss)
	}
	p, err := New(Options{Issuer: "https://lms.example.invalid/moodle/"})
	require.NoError(t, err)
	require.Equal(t, "https://lms.example.invalid/moodle", p.Issuer())
	require.Panics(t, func() { p.SetIssuer("not a url") })

	// On HTTPS the session cookie is SameSite=None so launches from
	// iframes keep it.
	c := p.Login(student)
	require.Equal(t, "/moodle", c.Path)
	require.True(t, c.Secure)
	require.Equal(t, SessionCookie, c.Name)
}

func TestAddTool(t *testing.T) {
	t.Parallel()
	p, err := New(Options{Issuer: "http://127.0.0.1:9"})
	require.NoError(t, err)
	p.AddTool(Tool{ClientID: "a"})
	p.AddTool(Tool{ClientID: "b", DeploymentID: "5"})
	p.AddTool(Tool{ConsumerKey: "k"})
	a, ok := p.Tool("a")
	require.True(t, ok)
	require.Equal(t, "1", a.DeploymentID)
	k, ok := p.Tool("k")
	require.True(t, ok)
	require.Equal(t, "6", k.DeploymentID, "assigned ids continue after explicit ones")

	// Registering the same client again replaces the tool.
	redirects := []string{"http://127.0.0.1:9/x"}
	p.AddTool(Tool{ClientID: "a", DeploymentID: "1", RedirectURIs: redirects})
	redirects[0] = "changed by the caller"
	a, ok = p.Tool("a")
	require.True(t, ok)
	require.Equal(t, []string{"http://127.0.0.1:9/x"}, a.RedirectURIs)
	_, ok = p.Tool("")
	require.False(t, ok)
	_, ok = p.Tool("zzz")
	require.False(t, ok)

	require.Regexp(t, `^[A-Za-z0-9]{15}$`, NewClientID())
	require.NotEqual(t, NewClientID(), NewClientID())
}

func TestParseISOTimestamp(t *testing.T) {
	t.Parallel()
	utc := func(y int, mo time.Month, d, h, mi, s int) time.Time {
		return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
	}
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2026-03-01T10:00:00Z", utc(2026, 3, 1, 10, 0, 0), true},
		{"2026-03-01T10:00:00.999999Z", utc(2026, 3, 1, 10, 0, 0), true},
		{"2026-03-01T10:00:00+02:00", utc(2026, 3, 1, 8, 0, 0), true},
		{"2026-03-01T10:00:00-0130", utc(2026, 3, 1, 11, 30, 0), true},
		{"2026-03-01T10:00", utc(2026, 3, 1, 10, 0, 0), true},
		{"2026-03-01", utc(2026, 3, 1, 0, 0, 0), true},
		{"2026-02-31T00:00:00Z", utc(2026, 3, 3, 0, 0, 0), true}, // rolled over, as strtotime does
		{"2026-3-01T10:00:00Z", time.Time{}, false},
		{"2026-03-01T10:00:60Z", time.Time{}, false},
		{"2026-03-01T10Z", time.Time{}, false},
		{"2026-03-01T10:00:00+2", time.Time{}, false},
		{"2026-03-00", time.Time{}, false},
		{"20260301T100000Z", time.Time{}, false}, // basic format: see the TODO in grades.go
		{"now", time.Time{}, false},
		{"", time.Time{}, false},
	} {
		got, ok := parseISOTimestamp(tc.in)
		require.Equal(t, tc.ok, ok, tc.in)
		if ok {
			require.True(t, tc.want.Equal(got), "%s: got %v", tc.in, got)
		}
	}
}

func TestIsNumeric(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"0": true, "1": true, "0.7": true, ".5": true, "5.": true, "-0.1": true, "+1": true,
		"1e3": true, "1E-3": true, " 0.5 ": true, "\n1\t": true,
		"": false, " ": false, "abc": false, "NaN": false, "Inf": false, "infinity": false,
		"0x1A": false, "0x1p-1": false, "1,5": false, "1.2.3": false, "e5": false, "1e": false, "--1": false,
	} {
		require.Equal(t, want, isNumeric(in), "%q", in)
	}
}

func TestLineItemIDOf(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{
		"7": 7,
		"http://127.0.0.1:9/mod/lti/services.php/2/lineitems/12/lineitem?type_id=1":        12,
		"http://127.0.0.1:9/mod/lti/services.php/2/lineitems/12/lineitem":                  12,
		"http://127.0.0.1:9/mod/lti/services.php/2/lineitems/12/lineitem/scores?type_id=1": 12,
	} {
		got, err := lineItemIDOf(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "x", "http://x/lineitems/12/lineitems", "http://x/lineitems//lineitem"} {
		_, err := lineItemIDOf(in)
		require.Error(t, err, in)
	}
}
