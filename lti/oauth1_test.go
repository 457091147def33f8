package lti_test

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lti"
)

func TestPercent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"unreserved untouched", "AZaz09-._~", "AZaz09-._~"},
		{"space is %20 not plus", "a b", "a%20b"},
		{"plus encoded", "a+b", "a%2Bb"},
		{"delimiters", "&=%", "%26%3D%25"},
		{"reserved set", ":/?#[]@!$'()*,;", "%3A%2F%3F%23%5B%5D%40%21%24%27%28%29%2A%2C%3B"},
		{"utf-8 bytes upper hex", "é☃", "%C3%A9%E2%98%83"},
		{"control and nul", "\x00\n\x7f", "%00%0A%7F"},
		{"invalid utf-8 byte kept as byte", "\xff", "%FF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, lti.Percent(tt.in))
			back, err := url.PathUnescape(lti.Percent(tt.in))
			require.NoError(t, err)
			require.Equal(t, tt.in, back)
		})
	}
}

// TestBaseStringRFC5849 uses the example of RFC 5849 §3.4.1.1: protocol
// parameters from the Authorization header, query parameters with encoded
// and repeated names, and a form body with "+" for space.
func TestBaseStringRFC5849(t *testing.T) {
	t.Parallel()
	header := "OAuth realm=\"Example\",\r\n  oauth_consumer_key=\"9djdj82h48djs9d2\",\r\n" +
		"  oauth_token=\"kkk9d7dh3k39sjv7\",\r\n  oauth_signature_method=\"HMAC-SHA1\",\r\n" +
		"  oauth_timestamp=\"137131201\",\r\n  oauth_nonce=\"7d8f3e4a\",\r\n" +
		"  oauth_signature=\"bYT5CMsGcbgUdFHObYMEfcx6bsw%3D\""
	params, err := lti.ParseAuthorizationHeader(header)
	require.NoError(t, err)
	require.NotContains(t, params, "realm")
	body, err := url.ParseQuery("c2&a3=2+q")
	require.NoError(t, err)
	for k, vs := range body {
		params[k] = append(params[k], vs...)
	}
	got, err := lti.BaseString("POST", "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b", params)
	require.NoError(t, err)
	want := "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q" +
		"%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2" +
		"%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201" +
		"%26oauth_token%3Dkkk9d7dh3k39sjv7"
	require.Equal(t, want, got)
}

func TestBaseStringNormalisation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, url string
		params            url.Values
		want              string
	}{
		{"scheme and host lower-cased, default port dropped", "post", "HTTP://Example.COM:80/Path",
			url.Values{"a": {"1"}}, "POST&http%3A%2F%2Fexample.com%2FPath&a%3D1"},
		{"https default port dropped", "GET", "https://h.test:443/x", nil,
			"GET&https%3A%2F%2Fh.test%2Fx&"},
		{"http on 443 keeps the port", "GET", "http://h.test:443/x", nil,
			"GET&http%3A%2F%2Fh.test%3A443%2Fx&"},
		{"other port kept", "GET", "http://h.test:9000/x", nil, "GET&http%3A%2F%2Fh.test%3A9000%2Fx&"},
		{"empty path is slash", "GET", "http://h.test", nil, "GET&http%3A%2F%2Fh.test%2F&"},
		{"fragment and userinfo dropped", "GET", "http://u:p@h.test/x#frag", nil,
			"GET&http%3A%2F%2Fh.test%2Fx&"},
		{"ipv6 literal with default port", "GET", "http://[::1]:80/x", nil,
			"GET&http%3A%2F%2F%5B%3A%3A1%5D%2Fx&"},
		{"ipv6 literal with port", "GET", "http://[::1]:81/x", nil,
			"GET&http%3A%2F%2F%5B%3A%3A1%5D%3A81%2Fx&"},
		{"repeated keys sorted by value", "POST", "http://h.test/",
			url.Values{"k": {"b", "a", "a"}}, "POST&http%3A%2F%2Fh.test%2F&k%3Da%26k%3Da%26k%3Db"},
		{"query and body merged, duplicates kept", "POST", "http://h.test/?k=1&z=%2B",
			url.Values{"k": {"1"}}, "POST&http%3A%2F%2Fh.test%2F&k%3D1%26k%3D1%26z%3D%252B"},
		{"sorted by encoded name", "POST", "http://h.test/",
			url.Values{"a b": {"1"}, "a": {"2"}, "a_": {"3"}},
			"POST&http%3A%2F%2Fh.test%2F&a%3D2%26a%2520b%3D1%26a_%3D3"},
		{"signature excluded from query and body", "POST", "http://h.test/?oauth_signature=q",
			url.Values{"oauth_signature": {"b"}, "x": {""}}, "POST&http%3A%2F%2Fh.test%2F&x%3D"},
		{"empty values kept", "POST", "http://h.test/?e=", url.Values{"f": {""}},
			"POST&http%3A%2F%2Fh.test%2F&e%3D%26f%3D"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := lti.BaseString(tt.method, tt.url, tt.params)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestBaseStringRejects(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, method, url string }{
		{"empty method", "", "http://h.test/"},
		{"method with a separator", "POST&http", "http://h.test/"},
		{"method with a space", "PO ST", "http://h.test/"},
		{"relative url", "POST", "/lti/launch"},
		{"no host", "POST", "http:///x"},
		{"other scheme", "POST", "javascript://h.test/x"},
		{"opaque", "POST", "mailto:a@h.test"},
		{"bad escape in query", "POST", "http://h.test/?a=%zz"},
		{"semicolon in query", "POST", "http://h.test/?a=1;b=2"},
		{"control character", "POST", "http://h.test/\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := lti.BaseString(tt.method, tt.url, url.Values{"a": {"1"}})
			require.Error(t, err)
			_, err = lti.Sign(tt.method, tt.url, url.Values{"a": {"1"}}, "s", "")
			require.Error(t, err)
		})
	}
}

func TestSign(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, url   string
		params              url.Values
		secret, tokenSecret string
		want                string
	}{
		{
			// OAuth Core 1.0 Appendix A.5 (photos.example.net).
			name: "oauth core 1.0 appendix a", method: "GET", url: "http://photos.example.net/photos",
			params: url.Values{
				"file": {"vacation.jpg"}, "size": {"original"}, "oauth_consumer_key": {"dpf43f3p2l4k3l03"},
				"oauth_token": {"nnch734d00sl2jdk"}, "oauth_signature_method": {"HMAC-SHA1"},
				"oauth_timestamp": {"1191242096"}, "oauth_nonce": {"kllo9940pd9333jh"},
				"oauth_version": {"1.0"},
			},
			secret: "kd94hf93k423kf44", tokenSecret: "pfkkdhi9sl3r4s00",
			want: "tR3+Ty81lMeYAr/Fid0kMTYa/WM=",
		},
		{
			// The key is enc(secret) "&" enc(token secret): each secret is
			// percent-encoded first (expected value from openssl).
			name: "secrets with delimiters and non-ascii", method: "GET", url: "http://example.com/",
			params: url.Values{"a": {"1"}}, secret: "s&e=c+r%t é", tokenSecret: "t&",
			want: "oHOXFRaXjo45pxWLuL9+cuo6XFg=",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := lti.Sign(tt.method, tt.url, tt.params, tt.secret, tt.tokenSecret)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestSignSecretsAreSeparated(t *testing.T) {
	t.Parallel()
	p := url.Values{"a": {"1"}}
	// Without encoding, these pairs would yield the same HMAC key "a&b&".
	s1, err := lti.Sign("POST", "http://h.test/", p, "a&b", "")
	require.NoError(t, err)
	s2, err := lti.Sign("POST", "http://h.test/", p, "a", "b&")
	require.NoError(t, err)
	require.NotEqual(t, s1, s2)
	for _, secret := range []string{"", " ", "+", "%20", "é", "e\u0301"} {
		other, err := lti.Sign("POST", "http://h.test/", p, secret, "")
		require.NoError(t, err)
		require.NotEqual(t, s1, other, "secret %q", secret)
	}
}

func TestAuthorizationHeaderRoundTrip(t *testing.T) {
	t.Parallel()
	in := url.Values{
		"realm":                  {"Ex ample"},
		"oauth_consumer_key":     {"key with spaces & = + % é"},
		"oauth_signature":        {"a+b/c="},
		"oauth_body_hash":        {lti.BodyHash([]byte("<x/>"))},
		"oauth_nonce":            {`quote" and, comma`},
		"oauth_signature_method": {"HMAC-SHA1"},
	}
	h := lti.AuthorizationHeader(in)
	require.Regexp(t, `^OAuth realm="Ex%20ample", oauth_body_hash="`, h)
	require.NotContains(t, h, "+", "a raw plus would turn into a space on Moodle's side")
	got, err := lti.ParseAuthorizationHeader(h)
	require.NoError(t, err)
	want := url.Values{}
	for k, v := range in {
		if k != "realm" {
			want[k] = v
		}
	}
	require.Equal(t, want, got)
}

func TestParseAuthorizationHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, header string
		want         url.Values // nil: an error is expected
	}{
		{"lower-case scheme and loose spacing", `oauth  a="1" ,b = "2",`,
			url.Values{"a": {"1"}, "b": {"2"}}},
		{"literal plus stays plus", `OAuth a="x+y"`, url.Values{"a": {"x+y"}}},
		{"encoded name", `OAuth a%20b="1"`, url.Values{"a b": {"1"}}},
		{"empty value", `OAuth a=""`, url.Values{"a": {""}}},
		{"realm only", `OAuth realm="x"`, nil},
		{"other scheme", `Basic dXNlcjpwYXNz`, nil},
		{"no parameters", `OAuth `, nil},
		{"repeated name", `OAuth a="1", a="2"`, nil},
		{"unquoted value", `OAuth a=1`, nil},
		{"unterminated value", `OAuth a="1`, nil},
		{"no equals", `OAuth a`, nil},
		{"missing comma", `OAuth a="1" b="2"`, nil},
		{"bad escape", `OAuth a="%zz"`, nil},
		{"empty name", `OAuth ="1"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := lti.ParseAuthorizationHeader(tt.header)
			if tt.want == nil {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestBodyHash(t *testing.T) {
	t.Parallel()
	// Expected values from openssl dgst -sha1 -binary | base64.
	require.Equal(t, "2jmj7l5rSw0yVb/vlWAYkK/YBwk=", lti.BodyHash(nil))
	require.Equal(t, "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=", lti.BodyHash([]byte("abc")))
	require.Equal(t, "QwKbGjGwXJMqCOPHtzu0lPksC6k=",
		lti.BodyHash([]byte(`<?xml version="1.0"?><a>é</a>`)))
}
