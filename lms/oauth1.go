package lms

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// percentEncode is RFC 3986 encoding as OAuth 1.0a requires it: everything
// but letters, digits and -._~ is escaped, with upper-case hex.
func percentEncode(s string) string {
	const hexUpper = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexUpper[c>>4])
		b.WriteByte(hexUpper[c&15])
	}
	return b.String()
}

// oauthBaseURL is the base string URI: scheme, lower-case host, the port
// only when it is not the scheme's default, and the path as written; no
// query or fragment.
func oauthBaseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("parse url: %w", err)
	}
	if u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("parse url: %q is not absolute", raw)
	}
	host := strings.ToLower(u.Hostname())
	if port := u.Port(); port != "" &&
		!(u.Scheme == "http" && port == "80") && !(u.Scheme == "https" && port == "443") {
		host += ":" + port
	}
	return u.Scheme + "://" + host + u.EscapedPath(), nil
}

// signatureBaseString builds the OAuth 1.0a signature base string of a
// request: the method, the base URL and every parameter but oauth_signature,
// each encoded, sorted by name and then value.
func signatureBaseString(method, baseURL string, params Form) string {
	pairs := make([][2]string, 0, len(params))
	for _, p := range params {
		if p.Name == "oauth_signature" {
			continue
		}
		pairs = append(pairs, [2]string{percentEncode(p.Name), percentEncode(p.Value)})
	}
	slices.SortFunc(pairs, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	var norm strings.Builder
	for i, pr := range pairs {
		if i > 0 {
			norm.WriteByte('&')
		}
		norm.WriteString(pr[0])
		norm.WriteByte('=')
		norm.WriteString(pr[1])
	}
	return strings.ToUpper(method) + "&" + percentEncode(baseURL) + "&" + percentEncode(norm.String())
}

// hmacSHA1Signature signs a base string with a consumer secret and no token
// secret, as LTI does.
func hmacSHA1Signature(base, consumerSecret string) string {
	mac := hmac.New(sha1.New, []byte(percentEncode(consumerSecret)+"&"))
	mac.Write([]byte(base))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// OAuthSignature returns the HMAC-SHA1 oauth_signature of a request to
// rawURL with params (the form or header parameters; any oauth_signature
// among them is ignored). Query parameters of rawURL are signed too.
func OAuthSignature(method, rawURL string, params Form, consumerSecret string) (string, error) {
	base, err := oauthBaseURL(rawURL)
	if err != nil {
		return "", fmt.Errorf("sign request: %w", err)
	}
	all, err := withQuery(rawURL, params)
	if err != nil {
		return "", fmt.Errorf("sign request: %w", err)
	}
	return hmacSHA1Signature(signatureBaseString(method, base, all), consumerSecret), nil
}

// withQuery returns the query parameters of rawURL followed by params.
func withQuery(rawURL string, params Form) (Form, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse url: %w", err)
	}
	q, err := parseQueryInOrder(u.RawQuery)
	if err != nil {
		return nil, err
	}
	return append(q, params...), nil
}

// parseQueryInOrder decodes a query string keeping order and duplicates.
func parseQueryInOrder(raw string) (Form, error) {
	var f Form
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("decode query name %q: %w", k, err)
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("decode query value of %q: %w", dk, err)
		}
		f = append(f, Field{dk, dv})
	}
	return f, nil
}

// oauthHeaderParam matches one name="value" (or name=value) pair of an
// Authorization: OAuth header.
var oauthHeaderParam = regexp.MustCompile(`([-_a-zA-Z]*)=("([^"]*)"|([^,]*)),?`)

// parseOAuthHeader returns the oauth_* parameters of an Authorization header
// value. Values are decoded the way Moodle's OAuth code does it, with
// urldecode, so an unencoded "+" turns into a space there as here.
func parseOAuthHeader(h string) (Form, bool) {
	rest, ok := strings.CutPrefix(h, "OAuth ")
	if !ok {
		return nil, false
	}
	var f Form
	for _, m := range oauthHeaderParam.FindAllStringSubmatch(rest, -1) {
		name := m[1]
		if !strings.HasPrefix(name, "oauth_") {
			continue // realm and anything else is not signed
		}
		raw := m[3]
		if !strings.HasPrefix(m[2], `"`) {
			raw = m[4]
		}
		v, err := url.QueryUnescape(raw)
		if err != nil {
			return nil, false
		}
		f = append(f, Field{name, v})
	}
	return f, true
}
