package advantage

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labhub/labhub/lti"
)

// Roster reads course memberships from a platform's Names and Role
// Provisioning Service.
type Roster struct {
	// Tokens obtains the access tokens. It must be set.
	Tokens *Tokens
	// Client sends the requests; nil means the Tokens' client.
	Client *http.Client
	// PageSize is the limit asked for per page; zero means 100. Platforms
	// may send smaller pages; every page is followed.
	PageSize int
	// MaxMembers bounds how many members are read; zero means 100000.
	MaxMembers int
}

// Members returns every member of the course whose memberships URL is
// membershipsURL (from the launch's NRPS claim), following rel="next" links
// page by page. The URL's own query (Moodle's type_id) is kept.
func (r *Roster) Members(ctx context.Context, p lti.Platform, membershipsURL string) ([]lti.Member, error) {
	u, err := url.Parse(membershipsURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, &Error{Permanent: true, Detail: "the memberships URL " + strconv.Quote(membershipsURL) +
			" is not an http(s) URL"}
	}
	size := r.PageSize
	if size <= 0 {
		size = 100
	}
	maxMembers := r.MaxMembers
	if maxMembers <= 0 {
		maxMembers = 100000
	}
	q := u.Query()
	if !q.Has("limit") {
		q.Set("limit", strconv.Itoa(size))
		u.RawQuery = q.Encode()
	}
	next := u.String()
	var out []lti.Member
	seen := map[string]bool{}
	for next != "" {
		if seen[next] {
			return nil, &Error{Detail: "the memberships service links a page to itself"}
		}
		seen[next] = true
		page, err := r.page(ctx, p, next)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Members...)
		if len(out) > maxMembers {
			return nil, &Error{Permanent: true, Detail: fmt.Sprintf("the course has more than %d members", maxMembers)}
		}
		next = page.Next
	}
	return out, nil
}

var scopeMemberships = []string{lti.ScopeMemberships}

// page fetches one page, with a fresh token once when the cached one is
// refused.
func (r *Roster) page(ctx context.Context, p lti.Platform, pageURL string) (*lti.MembershipPage, error) {
	for attempt := 0; ; attempt++ {
		tok, err := r.Tokens.Token(ctx, p, scopeMemberships)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, pageURL, nil)
		if err != nil {
			return nil, &Error{Permanent: true, Detail: "build memberships request", Err: err}
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", lti.MediaTypeMemberships)
		client := r.Client
		if client == nil {
			client = r.Tokens.client()
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, &Error{Detail: "request memberships", Err: err}
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
		resp.Body.Close()
		if err != nil {
			return nil, &Error{Status: resp.StatusCode, Detail: "read memberships", Err: err}
		}
		if (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) && attempt == 0 {
			// The platform may have forgotten the token (a restart); Moodle
			// answers that with 403 on this service.
			r.Tokens.Forget(p, scopeMemberships)
			continue
		}
		if resp.StatusCode/100 != 2 {
			return nil, &Error{Status: resp.StatusCode, Detail: "the memberships service refused the request",
				Permanent: resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests}
		}
		page, err := lti.ParseMemberships(body, resp.Header.Get("Link"), pageURL)
		if err != nil {
			return nil, &Error{Status: resp.StatusCode, Permanent: true, Detail: "read memberships", Err: err}
		}
		return page, nil
	}
}
