// Package proxy forwards requests for users' servers to the containers that
// run them.
//
// A [Proxy] serves the JupyterHub URL layout <prefix>user/<name>/<server>/...
// and looks each request up in a [Table] that the hub fills as servers start
// and stop. Matching happens on the percent-decoded path, one segment at a
// time, so a name containing an encoded slash (%2F) is never mistaken for two
// segments, and the container receives the path and query exactly as the
// client sent them.
//
// Before a request reaches a container the proxy removes the hub's own
// cookies (so a student's server never sees another user's hub session) and,
// unless the request came from a trusted front such as a TLS terminator,
// replaces the client's X-Forwarded-* headers with values it derives itself.
// Websocket upgrades, server-sent events and large bodies pass through
// without buffering. Every request and every chunk of data in either
// direction stamps the route's LastActivity, which the hub reads back through
// [Table.Routes] to cull idle servers.
//
// So that an LMS can show a notebook inside its own page, the proxy can
// widen the servers' frame-ancestors to the LMSs' origins and mark their
// cookies for use in third-party frames (Options.FrameAncestors,
// Options.CrossSiteCookies).
//
// Typical wiring:
//
//	table := proxy.NewTable()
//	p := proxy.New(proxy.Options{
//		Prefix:      "/",
//		Table:       table,
//		StripCookie: isHubCookie,
//		Fallback:    hubHandler,
//	})
//	defer p.Close()
//	table.Set("alice", "physics-101", target, serverID)
//
// TODO: servers share the hub's origin (the URL layout is JupyterHub's
// single-domain one), so a page a user's server sends runs with the rights
// of whoever opens it in a browser, including the hub's. Giving each server
// an origin of its own (JupyterHub's subdomain_host) needs wildcard DNS and
// certificates and is not built; the README's Limitations say so.
//
// http.Server.Shutdown does not wait for hijacked connections, so a server
// that shuts down should call [Proxy.Close] after Shutdown to end open
// websockets.
package proxy
