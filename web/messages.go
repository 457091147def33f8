package web

import "github.com/labhub/labhub/lti"

// Codes of launch failures found by web itself.
const (
	// codeNotTeacher refuses a deep linking request (adding an activity)
	// from someone who does not teach the course.
	codeNotTeacher = "not_teacher"
)

// webHints are the administrator hints of web's own codes.
var webHints = map[string]string{
	codeNotTeacher: "Only course roles with instructor rights may add Labhub activities " +
		"(--instructor-roles); the LMS sent this person's roles without one.",
}

// launchHint is the sentence for the LMS or Labhub administrator: the one
// the failure carries, else the default for its code.
func launchHint(le *lti.Error) string {
	if le.Hint != "" {
		return le.Hint
	}
	if h := webHints[le.Code]; h != "" {
		return h
	}
	return lti.HintFor(le.Code)
}

const (
	actionRetry = "Go back to your course and open the activity again. If this keeps happening, tell " +
		"your teacher and mention the error code below."
	actionTellTeacher = "Labhub is not set up correctly for your course. Tell your teacher (or your LMS " +
		"administrator) and mention the error code below; opening the activity again will not help until it is fixed."
	actionClock = "Wait a minute and open the activity from your course again. If it keeps failing, tell " +
		"your teacher: a server's clock is probably wrong."
	actionReplay = "Go back to your course and click the activity again, instead of reloading this page " +
		"or using the browser's back button."
	actionNewWindow = "Go back to your course and open the activity again. If it keeps failing inside the " +
		"course page, open it in a new window or tab (right-click the activity, then \"Open link in new tab\")."
	actionLogin   = "Log in to your LMS again in this browser, then open the activity from your course."
	actionTeacher = "Adding Labhub activities is for teachers. If you teach this course, ask your LMS " +
		"administrator to give you a teacher role in it."
)

// launchAction says what the person who sees a launch failure can do.
func launchAction(code string) string {
	switch code {
	case lti.CodeStaleTimestamp, lti.CodeBadTimestamp, lti.CodeExpired, lti.CodeIssuedInFuture,
		lti.CodeStaleToken, lti.CodeNotYetValid:
		return actionClock
	case lti.CodeReplayedNonce:
		return actionReplay
	case lti.CodeBadState, lti.CodeExpiredState, lti.CodeMissingState, lti.CodeStateMismatch, lti.CodeBadNonce:
		return actionNewWindow
	case lti.CodePlatformError:
		return actionLogin
	case codeNotTeacher:
		return actionTeacher
	case lti.CodeUnknownConsumer, lti.CodeUnknownPlatform, lti.CodeUnknownDeployment, lti.CodeMissingDeployment,
		lti.CodeBadSignature, lti.CodeBadSignatureMethod, lti.CodeUnknownKey, lti.CodeKeySetUnavailable,
		lti.CodeBadAudience, lti.CodeMissingAZP, lti.CodeBadAZP, lti.CodeBadIssuer, lti.CodeBadAlgorithm,
		lti.CodeBadToken, lti.CodeBadVersion, lti.CodeUnsupported, lti.CodeMissingSubject, lti.CodeMissingRoles,
		lti.CodeMissingResource, lti.CodeMissingReturnURL:
		return actionTellTeacher
	}
	return actionRetry
}

// launchMessage says in plain words what went wrong, for the student.
func launchMessage(code string) string {
	switch code {
	case lti.CodeStaleTimestamp, lti.CodeExpired, lti.CodeIssuedInFuture, lti.CodeBadTimestamp,
		lti.CodeStaleToken, lti.CodeNotYetValid:
		return "The launch from your course arrived too late or with a wrong time."
	case lti.CodeReplayedNonce:
		return "This launch was already used once. Each launch works only once, so reloading the page after a launch does not work."
	case lti.CodeBadState, lti.CodeMissingState, lti.CodeStateMismatch, lti.CodeExpiredState, lti.CodeBadNonce:
		return "Your browser lost track of this login, for example because it was opened in another window or the login took too long."
	case lti.CodePlatformError:
		return "Your LMS reported an error instead of logging you in."
	case lti.CodeUnknownConsumer, lti.CodeUnknownPlatform, lti.CodeUnknownDeployment:
		return "Labhub does not know the LMS or course tool this launch came from."
	case codeNotTeacher:
		return "Only teachers can add Labhub activities to a course."
	case lti.CodeMissingSubject:
		return "Your LMS did not tell Labhub who you are."
	default:
		return "Labhub could not verify that this launch really came from your LMS."
	}
}
