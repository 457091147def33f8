package web

import (
	"net/http"
	"strings"
)

// forwardedOrigin reads proto and host from the first element of an RFC
// 7239 Forwarded header, the one the front facing the browser or LMS
// added. Values may be quoted; parameter names are case-insensitive.
func forwardedOrigin(r *http.Request) (proto, host string) {
	first, _, _ := strings.Cut(r.Header.Get("Forwarded"), ",")
	for _, pair := range strings.Split(first, ";") {
		name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			continue
		}
		value = strings.Trim(value, `"`)
		switch strings.ToLower(name) {
		case "proto":
			proto = strings.ToLower(value)
		case "host":
			host = value
		}
	}
	return proto, host
}
