package lti

// Codes of failures the web layer finds around the verifiers: the LTI 1.3
// launch came back without the state or without the cookie that binds it to
// the browser.
const (
	CodeMissingState  = "missing_state"  // the launch carries no state
	CodeStateMismatch = "state_mismatch" // the browser does not hold the login's state cookie
)

// Codes lists every error code of this package, for callers that need a
// message for each.
var Codes = []string{
	CodeMissingParameter, CodeBadParameter, CodeBadSignatureMethod, CodeBadTimestamp,
	CodeStaleTimestamp, CodeUnknownConsumer, CodeBadSignature, CodeReplayedNonce, CodeUnsupported,
	CodeBadVersion, CodeBadToken, CodeBadAlgorithm, CodeBadIssuer, CodeBadAudience, CodeMissingAZP,
	CodeBadAZP, CodeUnknownPlatform, CodeUnknownKey, CodeKeySetUnavailable, CodeExpired,
	CodeIssuedInFuture, CodeStaleToken, CodeNotYetValid, CodeBadNonce, CodeMissingDeployment,
	CodeUnknownDeployment, CodeMissingResource, CodeMissingReturnURL, CodeMissingSubject,
	CodeMissingRoles, CodeBadState, CodeExpiredState, CodePlatformError, CodeStoreError,
	CodeMisconfigured, CodeMissingState, CodeStateMismatch,
}

const (
	hintURLs = "Check the tool's registration in the LMS: LTI 1.3 needs Labhub's login URL " +
		"(…/lti/login) as the initiate login URL and its launch URL (…/lti/launch) as the redirection URI; " +
		"LTI 1.1 needs …/hub/lti/launch as the tool URL."
	hintClientID = "Check that the client ID registered in Labhub for this platform is the one the LMS shows " +
		"for the tool, and that the issuer is the LMS's platform ID exactly."
	hintLabhub = "Labhub itself failed (database or configuration); its log has the cause."
)

// hints are the default administrator hints by code.
var hints = map[string]string{
	CodeMissingParameter: "The LMS sent an incomplete message (the details name the missing parameter). " + hintURLs,
	CodeBadParameter:     "The LMS sent a malformed message (the details say what). " + hintURLs,
	CodeBadSignatureMethod: "Configure the LTI 1.1 tool in the LMS to sign launches with HMAC-SHA1, " +
		"the LTI 1.1 default.",
	CodeBadTimestamp: "The LMS sent a malformed oauth_timestamp. " + clockHint,
	CodeStaleTimestamp: clockHint + " Labhub accepts LTI 1.1 timestamps within --lti11-timestamp-window " +
		"of its own clock.",
	CodeUnknownConsumer: "Register the consumer key the LMS uses in Labhub (labhub lti11 add-consumer, " +
		"or LTI_CLIENT_KEY and LTI_SHARED_SECRET).",
	CodeBadSignature: "Check that the shared secret in the LMS is the one registered in Labhub for this " +
		"consumer key, and that the tool URL in the LMS is exactly Labhub's public URL (behind a reverse " +
		"proxy set --public-url or --trusted-proxies).",
	CodeReplayedNonce: "Nothing needs fixing in the registration: the same launch message reached Labhub " +
		"twice (a reload, a double click or a restored tab).",
	CodeUnsupported: "Labhub handles resource link launches and deep linking requests only; check the " +
		"message types enabled for the tool in the LMS.",
	CodeBadVersion: "Register the tool in the LMS with the LTI version of the URL it uses: LTI 1.1 posts " +
		"to …/hub/lti/launch, LTI 1.3 logs in at …/lti/login and launches at …/lti/launch.",
	CodeBadToken: "The LMS must post an RS256-signed id_token: register the tool in the LMS as an LTI 1.3 " +
		"tool. " + hintURLs,
	CodeBadAlgorithm: "The LMS must sign id_tokens with RS256 and an RSA key of 2048 bits or more; check " +
		"the platform's key configuration.",
	CodeBadIssuer:   hintClientID,
	CodeBadAudience: hintClientID,
	CodeMissingAZP:  hintClientID,
	CodeBadAZP:      hintClientID,
	CodeUnknownPlatform: "Register the platform in Labhub with exactly this issuer and client ID " +
		"(labhub lti13 add-platform, the admin console, or dynamic registration).",
	CodeUnknownKey: "The platform signed the launch with a key its public keyset URL does not publish; " +
		"check the keyset URL in Labhub's registration of the platform.",
	CodeKeySetUnavailable: "Check the platform's public keyset URL in Labhub's registration of the " +
		"platform; it must be reachable from Labhub.",
	CodeExpired:        clockHint,
	CodeIssuedInFuture: clockHint,
	CodeStaleToken:     clockHint,
	CodeNotYetValid:    clockHint,
	CodeBadNonce: "The id_token does not carry the nonce Labhub sent with this login: check that the " +
		"LMS's initiate login URL and redirection URI both point at this Labhub.",
	CodeMissingDeployment: "The LMS sent no deployment ID; register the tool in the LMS as an LTI 1.3 tool.",
	CodeUnknownDeployment: "Add the deployment ID to the platform's registration in Labhub " +
		"(labhub lti13 add-platform --deployment-id, or the admin console), or let the registration " +
		"accept new deployments (--unknown-deployments add).",
	CodeMissingResource:  "The LMS sent a resource link launch without resource_link.id. " + hintURLs,
	CodeMissingReturnURL: "The LMS sent a deep linking request without deep_link_return_url.",
	CodeMissingSubject: "The LMS launched anonymously. Labhub needs to know who launches: configure the " +
		"tool in the LMS to share the user's identity.",
	CodeMissingRoles: "The LMS sent no roles; Labhub needs them to tell students from teachers.",
	CodeBadState: "The launch came back with a login state Labhub did not issue: check that the " +
		"redirection URI in the LMS is this Labhub's launch URL, and that all Labhub processes share one " +
		"secret key (LABHUB_SECRET_KEY).",
	CodeExpiredState: "The login took more than ten minutes to come back from the LMS. If this happens " +
		"often, check the LMS server's clock.",
	CodePlatformError: "The LMS refused Labhub's login request (the details name its error). " + hintURLs,
	CodeStoreError:    hintLabhub,
	CodeMisconfigured: hintLabhub,
	CodeMissingState: "The LMS must post back the state Labhub sent with the login redirect: check that " +
		"the redirection URI in the LMS is Labhub's launch URL (…/lti/launch).",
	CodeStateMismatch: "The browser did not keep Labhub's cookie between login and launch. Labhub inside " +
		"an LMS page needs HTTPS (cookies must be SameSite=None; Secure); over plain HTTP set the tool to " +
		"open in a new window.",
}

// HintFor returns the default sentence for the LMS or Labhub administrator
// for an error code: what to check in the registration. It is "" only for
// codes this package does not know.
func HintFor(code string) string { return hints[code] }
