// Package lms is an LTI platform: the LMS side of LTI 1.1 and LTI 1.3, shaped
// after Moodle 4.5. Labhub's tests launch from it, and `labhub demo` serves it
// as a small demo course.
//
// It is written independently of Labhub's own LTI code (package lti) so that a
// misreading of the specifications on one side is caught by the other. Where
// Moodle is stricter than the specifications, the platform is as strict as
// Moodle: redirect URIs must match exactly, lti_message_hint must come back
// unchanged, id_tokens live 60 seconds and carry aud as a string, scores need
// strictly increasing timestamps, and service URLs keep their ?type_id query.
//
// A Platform serves the endpoints under the path of its issuer, with Moodle's
// paths so that the URLs look familiar to administrators:
//
//	GET      /mod/lti/certs.php      platform key set
//	GET|POST /mod/lti/auth.php       OIDC authorization (LTI 1.3 launches)
//	POST     /mod/lti/token.php      OAuth 2 client_credentials with a JWT assertion
//	         /mod/lti/services.php/  AGS line items, scores, results; NRPS memberships
//	POST     /mod/lti/service.php    LTI 1.1 Basic Outcomes (POX, OAuth 1.0a body hash)
//	GET      /mod/lti/openid-configuration.php   dynamic registration: platform configuration
//	POST     /mod/lti/openid-registration.php    dynamic registration: the tool registers (Pending)
//	GET      /mod/lti/startltiadvregistration.php?url=   "Add LTI Advantage" for an administrator
//	POST     /mod/lti/contentitem_return.php     deep linking return (the tool's signed JWT)
//	GET      /mod/lti/view.php?id=   activity page embedding the tool in an iframe
//	GET      /mod/lti/launch.php?id= the iframe's login initiation
//	GET      /mod/lti/post_message_forwarding.php   platform storage frame (lti.put_data, lti.get_data)
//	GET      /login/index.php?ticket=   one-time browser login for tests ([Platform.EmbedURL])
//	GET      /                       demo course page
//
// Options make it behave like other LMSs where they differ from Moodle:
// Canvas (one issuer for many institutions, deployment_id at login,
// platform storage), Blackboard (one client id with a deployment per
// institution, roles as LTI 1.1 URNs), Brightspace (a token audience that is
// not the token URL; keys rotated with [Platform.RotateKey]) and Sakai
// (lti_storage_target=_parent).
//
// A test registers a tool, then drives launches with a [Browser]:
//
//	p, _ := lms.New(lms.Options{})
//	srv := httptest.NewServer(p.Handler())
//	p.SetIssuer(srv.URL)
//	p.AddTool(lms.Tool{ClientID: lms.NewClientID(), LoginURL: ..., RedirectURIs: ...})
//	jar, _ := cookiejar.New(nil)
//	b := &lms.Browser{Client: &http.Client{Jar: jar}, Platform: p}
//	resp, err := b.LaunchLTI13(ctx, student, course, link, clientID)
//
// Lower-level pieces ([Platform.LoginInitiation], [Platform.LaunchClaims],
// [Platform.IDToken], [Platform.SignLTI11]) let tests tamper with messages.
package lms
