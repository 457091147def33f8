package advantage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labhub/labhub/lti"
)

// Assignment and Grade Services scopes and media types.
const (
	ScopeLineItem         = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
	ScopeLineItemReadOnly = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
	ScopeScore            = "https://purl.imsglobal.org/spec/lti-ags/scope/score"

	MediaTypeScore              = "application/vnd.ims.lis.v1.score+json"
	MediaTypeLineItem           = "application/vnd.ims.lis.v2.lineitem+json"
	MediaTypeLineItemContainer  = "application/vnd.ims.lis.v2.lineitemcontainer+json"
	maxServiceResponse          = 4 << 20
	refusedTokensRemembered     = 64
	defaultServiceClientTimeout = 20 * time.Second
)

// Score is one user's result for a line item. A nil Given clears the
// user's grade: it is sent as not graded, which Moodle stores as no grade.
type Score struct {
	// UserID is the user's LTI subject (sub).
	UserID string
	Given  *float64
	// Maximum is always sent; the platform scales Given by it.
	Maximum float64
	Comment string
	// Timestamp must be later than that of the user's previous score on
	// the line item; Moodle compares whole seconds.
	Timestamp time.Time
}

// LineItem is a gradebook column.
type LineItem struct {
	ID             string  `json:"id,omitempty"`
	Label          string  `json:"label"`
	ScoreMaximum   float64 `json:"scoreMaximum"`
	ResourceID     string  `json:"resourceId,omitempty"`
	Tag            string  `json:"tag,omitempty"`
	ResourceLinkID string  `json:"resourceLinkId,omitempty"`
}

// AGS calls a platform's Assignment and Grade Services with tokens from
// Tokens. The zero value needs Tokens set; it must not be copied after
// first use.
type AGS struct {
	// Tokens obtains the access tokens. It must be set.
	Tokens *Tokens
	// Client sends the service calls; nil means a client with a 20 s
	// timeout.
	Client *http.Client

	// mu protects refused.
	mu sync.Mutex
	// refused holds tokens the platform answered 401 to. A second 401 with
	// a fresh token means the platform never sees the token (an Apache in
	// front of Moodle dropping the Authorization header); fetching yet
	// another token would only loop.
	refused map[string]bool
}

// ScoresURL returns the scores endpoint of a line item: "/scores" appended
// to its path, its query (Moodle's ?type_id=) kept.
func ScoresURL(lineItem string) (string, error) {
	return servicePath(lineItem, "/scores")
}

func servicePath(raw, suffix string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("service url %q is not absolute", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + suffix
	if u.RawPath != "" {
		u.RawPath = strings.TrimSuffix(u.RawPath, "/") + suffix
	}
	return u.String(), nil
}

// withQuery adds params to a service URL's query, keeping what it has.
func withQuery(raw string, params url.Values) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("service url %q is not absolute", raw)
	}
	if len(params) == 0 {
		return raw, nil
	}
	q := params.Encode()
	if u.RawQuery != "" {
		q = u.RawQuery + "&" + q
	}
	u.RawQuery = q
	return u.String(), nil
}

// PostScore sends s to the line item lineItem (its URL as the platform gave
// it). A 409 answer, the platform holding a score at least as recent,
// comes back as an *Error with Status 409; see IsConflict.
func (a *AGS) PostScore(ctx context.Context, p lti.Platform, lineItem string, s Score) error {
	u, err := ScoresURL(lineItem)
	if err != nil {
		return &Error{Permanent: true, Detail: "line item", Err: err}
	}
	if s.Maximum <= 0 {
		return &Error{Permanent: true, Detail: "a score needs a positive scoreMaximum"}
	}
	body := map[string]any{
		"userId":       s.UserID,
		"scoreMaximum": s.Maximum,
		"timestamp":    s.Timestamp.UTC().Format(time.RFC3339),
	}
	if s.Given != nil {
		body["scoreGiven"] = *s.Given
		body["activityProgress"] = "Completed"
		body["gradingProgress"] = "FullyGraded"
	} else {
		body["activityProgress"] = "Initialized"
		body["gradingProgress"] = "NotReady"
	}
	if s.Comment != "" {
		body["comment"] = s.Comment
	}
	b, err := json.Marshal(body)
	if err != nil {
		return &Error{Permanent: true, Detail: "encode score", Err: err}
	}
	_, err = a.call(ctx, p, []string{ScopeScore}, http.MethodPost, u, MediaTypeScore, "", b)
	return err
}

// LineItems lists the line items of a container URL (the claim's
// lineitems), filtered by query (resource_link_id, resource_id, tag).
func (a *AGS) LineItems(ctx context.Context, p lti.Platform, container string, query url.Values) ([]LineItem, error) {
	u, err := withQuery(container, query)
	if err != nil {
		return nil, &Error{Permanent: true, Detail: "line items", Err: err}
	}
	b, err := a.call(ctx, p, []string{ScopeLineItem}, http.MethodGet, u, "", MediaTypeLineItemContainer, nil)
	if err != nil {
		return nil, err
	}
	var out []LineItem
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, &Error{Status: http.StatusOK, Detail: "decode line items", Err: err}
	}
	return out, nil
}

// CreateLineItem adds a line item to a container and returns it with the
// id the platform gave it.
func (a *AGS) CreateLineItem(ctx context.Context, p lti.Platform, container string, li LineItem) (LineItem, error) {
	li.ID = ""
	b, err := json.Marshal(li)
	if err != nil {
		return LineItem{}, &Error{Permanent: true, Detail: "encode line item", Err: err}
	}
	b, err = a.call(ctx, p, []string{ScopeLineItem}, http.MethodPost, container, MediaTypeLineItem, MediaTypeLineItem, b)
	if err != nil {
		return LineItem{}, err
	}
	var out LineItem
	if err := json.Unmarshal(b, &out); err != nil || out.ID == "" {
		return LineItem{}, &Error{Status: http.StatusCreated, Detail: "the platform answered a new line item without its id", Err: err}
	}
	return out, nil
}

// call sends one service request and returns the body of a 2xx answer.
// A 401 is answered once by dropping the cached token and fetching a fresh
// one; a 401 to a token the platform has refused before ends the call.
func (a *AGS) call(ctx context.Context, p lti.Platform, scopes []string, method, u, contentType, accept string,
	body []byte) ([]byte, error) {
	tok, err := a.Tokens.Token(ctx, p, scopes)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
		if err != nil {
			return nil, &Error{Permanent: true, Detail: "build service request", Err: err}
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := a.client().Do(req)
		if err != nil {
			return nil, &Error{Detail: "call " + redactURL(u), Err: err}
		}
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxServiceResponse))
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			// A token refused for the first time may just be stale: one
			// fresh token, shared with concurrent callers, gets one more try.
			if attempt == 0 && !a.wasRefused(tok) {
				a.refuse(tok)
				if tok, err = a.Tokens.Renew(ctx, p, scopes, tok); err != nil {
					return nil, err
				}
				continue
			}
			a.refuse(tok)
			return nil, &Error{Status: resp.StatusCode, Permanent: true, Code: "unauthorized",
				Detail: "the LMS refused a freshly issued access token; if Moodle runs behind Apache, the web " +
					"server may drop the Authorization header (add SetEnvIf Authorization \"(.*)\" " +
					"HTTP_AUTHORIZATION=$1 to its configuration)"}
		}
		if rerr != nil {
			return nil, &Error{Status: resp.StatusCode, Detail: "read service response", Err: rerr}
		}
		if resp.StatusCode/100 != 2 {
			e := &Error{Status: resp.StatusCode, Detail: serviceRefusal(resp.StatusCode, b)}
			// Server trouble, rate limits and timeouts pass; other refusals
			// are about the request (Moodle: a user it does not grade, a
			// missing field) or the line item.
			e.Permanent = resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests &&
				resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusConflict
			if d := retryAfter(resp.Header.Get("Retry-After")); d > 0 {
				e.RetryAfter = d
			}
			return nil, e
		}
		return b, nil
	}
}

func (a *AGS) client() *http.Client {
	if a.Client != nil {
		return a.Client
	}
	return &http.Client{Timeout: defaultServiceClientTimeout}
}

func (a *AGS) wasRefused(tok string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refused[tok]
}

func (a *AGS) refuse(tok string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.refused == nil || len(a.refused) >= refusedTokensRemembered {
		a.refused = map[string]bool{}
	}
	a.refused[tok] = true
}

// serviceRefusal describes a refused call with the start of the platform's
// answer, which for Moodle names the reason ("Incorrect score received").
func serviceRefusal(status int, body []byte) string {
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return "the LMS refused the request: " + msg
}

// retryAfter reads a Retry-After header given in seconds.
func retryAfter(h string) time.Duration {
	var secs int
	if _, err := fmt.Sscanf(strings.TrimSpace(h), "%d", &secs); err != nil || secs <= 0 {
		return 0
	}
	return time.Duration(secs) * time.Second
}

// redactURL drops the query of a URL for messages.
func redactURL(u string) string {
	base, _, _ := strings.Cut(u, "?")
	return base
}

// IsConflict reports whether err is a platform's 409: it already holds a
// score for the user at least as recent as the one sent.
func IsConflict(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusConflict
}
