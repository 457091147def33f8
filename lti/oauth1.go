package lti

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// Percent encodes s as RFC 5849 §3.6 requires: the RFC 3986 unreserved
// characters (ALPHA, DIGIT, "-", ".", "_", "~") stay, every other byte of the
// UTF-8 encoding becomes %XX with upper-case hex digits.
func Percent(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&0x0f])
	}
	return string(b)
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// BaseString returns the RFC 5849 §3.4.1 signature base string of a request.
// params holds the body parameters; the query parameters of rawURL are merged
// with them. Repeated names and duplicate pairs all count, and every
// oauth_signature value is left out.
func BaseString(method, rawURL string, params url.Values) (string, error) {
	if !alphabetic(method) {
		// HTTP methods in use are letters; anything else, "&" above all,
		// would make the base string ambiguous.
		return "", fmt.Errorf("build signature base string: bad method %s", quote(method))
	}
	base, query, err := baseURI(rawURL)
	if err != nil {
		return "", fmt.Errorf("build signature base string: %w", err)
	}
	type pair struct{ k, v string }
	pairs := make([]pair, 0, len(params)+len(query))
	for _, set := range []url.Values{query, params} {
		for k, vs := range set {
			if k == "oauth_signature" {
				continue
			}
			ek := Percent(k)
			for _, v := range vs {
				pairs = append(pairs, pair{ek, Percent(v)})
			}
		}
	}
	// §3.4.1.3.2: sort by encoded name, then by encoded value, bytewise.
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	var norm strings.Builder
	for i, p := range pairs {
		if i > 0 {
			norm.WriteByte('&')
		}
		norm.WriteString(p.k)
		norm.WriteByte('=')
		norm.WriteString(p.v)
	}
	return asciiUpper(method) + "&" + Percent(base) + "&" + Percent(norm.String()), nil
}

// baseURI returns the §3.4.1.2 base string URI of rawURL (scheme and host in
// lower case, default port dropped, path kept, no query, no fragment) and the
// parameters of its query.
func baseURI(rawURL string) (string, url.Values, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", nil, fmt.Errorf("parse url: %w", err)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", nil, fmt.Errorf("url %s: scheme must be http or https", quote(rawURL))
	}
	if u.Opaque != "" || u.Host == "" {
		return "", nil, fmt.Errorf("url %s: not an absolute url with a host", quote(rawURL))
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		port = ""
	}
	switch {
	case port != "":
		host = net.JoinHostPort(host, port)
	case strings.Contains(host, ":"):
		host = "[" + host + "]" // IPv6 literal
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	// §3.4.1.3.1: the query is decoded as application/x-www-form-urlencoded,
	// so "+" is a space, as the body's parameters are.
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", nil, fmt.Errorf("parse query of %s: %w", quote(rawURL), err)
	}
	return scheme + "://" + host + path, query, nil
}

func alphabetic(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return s != ""
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// Sign returns the base64 HMAC-SHA1 signature (RFC 5849 §3.4.2) of a request,
// keyed with the encoded consumer secret and token secret joined by "&".
// LTI 1.1 uses no tokens: tokenSecret is "".
func Sign(
	method, rawURL string, params url.Values, consumerSecret, tokenSecret string,
) (string, error) {
	base, err := BaseString(method, rawURL, params)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha1.New, []byte(Percent(consumerSecret)+"&"+Percent(tokenSecret)))
	mac.Write([]byte(base))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// BodyHash returns the oauth_body_hash of a request body: base64(SHA-1(body)),
// as the OAuth Request Body Hash extension used by LTI 1.1 Basic Outcomes
// defines it.
func BodyHash(body []byte) string {
	sum := sha1.Sum(body)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// AuthorizationHeader returns an "OAuth" Authorization header value (RFC 5849
// §3.5.1) carrying params, which should be the oauth_* protocol parameters
// and optionally realm. realm comes first, the other names in sorted order;
// names and values are percent-encoded.
func AuthorizationHeader(params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "realm" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if _, ok := params["realm"]; ok {
		keys = append([]string{"realm"}, keys...)
	}
	var b strings.Builder
	b.WriteString("OAuth ")
	first := true
	for _, k := range keys {
		for _, v := range params[k] {
			if !first {
				b.WriteString(", ")
			}
			first = false
			b.WriteString(Percent(k))
			b.WriteString(`="`)
			b.WriteString(Percent(v))
			b.WriteByte('"')
		}
	}
	return b.String()
}

// ParseAuthorizationHeader parses an "OAuth" Authorization header value
// (RFC 5849 §3.5.1) into its parameters, percent-decoded. realm is dropped
// because it is not signed. A repeated name, an unquoted value or a bad
// percent-escape is an error.
func ParseAuthorizationHeader(h string) (url.Values, error) {
	fail := func(format string, args ...any) (url.Values, error) {
		return nil, fmt.Errorf("parse oauth authorization header: "+format, args...)
	}
	scheme, rest, _ := strings.Cut(strings.TrimLeft(h, " \t"), " ")
	if !strings.EqualFold(scheme, "OAuth") {
		return fail("scheme is not OAuth")
	}
	out := url.Values{}
	seen := map[string]bool{}
	for {
		rest = strings.TrimLeft(rest, " \t\r\n,")
		if rest == "" {
			break
		}
		name, after, ok := strings.Cut(rest, "=")
		if !ok {
			return fail("parameter %s has no value", quote(rest))
		}
		name = strings.TrimRight(name, " \t")
		after = strings.TrimLeft(after, " \t")
		if !strings.HasPrefix(after, `"`) {
			return fail("value of %s is not quoted", quote(name))
		}
		value, tail, ok := strings.Cut(after[1:], `"`)
		if !ok {
			return fail("value of %s is not terminated", quote(name))
		}
		rest = tail
		// Percent-decoding only: a literal "+" is a plus sign here, not a
		// space as in form encoding.
		k, err := url.PathUnescape(name)
		if err != nil || k == "" {
			return fail("bad name %s", quote(name))
		}
		v, err := url.PathUnescape(value)
		if err != nil {
			return fail("bad value of %s: %w", quote(k), err)
		}
		if seen[k] {
			return fail("%s repeated", quote(k))
		}
		seen[k] = true
		if k != "realm" {
			out.Set(k, v)
		}
		if rest = strings.TrimLeft(rest, " \t\r\n"); rest != "" && rest[0] != ',' {
			return fail("junk after %s", quote(k))
		}
	}
	if len(out) == 0 {
		return fail("no parameters")
	}
	return out, nil
}
