// Package lti is the protocol core of Labhub's LTI support: it turns LTI 1.1
// and LTI 1.3 launch requests into verified [Launch] values and builds the
// outgoing messages of the login flow.
//
// The package knows nothing of HTTP frameworks, databases or containers. It
// reaches storage through small interfaces ([NonceStore], [SecretLookup],
// [PlatformLookup]) so that every check can be tested and fuzzed in isolation.
//
// # LTI 1.1
//
// [LTI11Verifier] checks an OAuth 1.0a HMAC-SHA1 signed launch (RFC 5849): the
// protocol parameters, the timestamp window, the consumer's secret, the
// signature and the LTI parameters, and only then records the nonce. The
// caller must pass the URL exactly as the LMS signed it; behind a reverse
// proxy that is the public URL, not the one the proxy forwarded to.
//
// # LTI 1.3
//
// The OIDC third-party login starts with [ParseLoginRequest] and
// [AuthRequestURL]. The state travels signed ([StateCodec]) instead of being
// stored, so anonymous login floods cost no storage; the nonce is derived from
// the state, which binds each id_token to the login that asked for it.
// [LTI13Verifier] checks the id_token the platform posts back, with platform
// keys from a [KeySetCache].
//
// # LTI Advantage messages
//
// The package also builds and reads the messages of the LTI Advantage
// services, without sending them: dynamic registration
// ([ParsePlatformConfiguration], [ToolRegistration.RegistrationRequest],
// [ParseRegistrationResponse]), deep linking responses
// ([DeepLinkingResponse]) and Names and Role Provisioning pages
// ([ParseMemberships]). Package advantage makes the calls.
//
// Every verification failure is an [*Error] carrying a stable code, the HTTP
// status to answer, a detail for logs and, where the LMS administrator can fix
// something, a hint for them; [HintFor] has a default hint for every code.
package lti
