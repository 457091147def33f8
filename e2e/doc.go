// Package e2e holds Labhub's end-to-end tests. They build the labhub
// command, run it as a separate process against the real Docker engine and
// the notebook image, and drive it from the LTI platform double in package
// lms the way a browser would: launch, progress page, jupyterhub-singleuser's
// OAuth login, the proxied REST API and kernel websocket.
package e2e
