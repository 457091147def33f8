// Package course is where an LMS launch becomes a user, a course, an
// enrollment and a running notebook server.
//
// [Service.RecordLaunch] writes what a verified launch says (person, course,
// role, activity, where grades go) in one transaction. [Manager] owns the
// notebook servers: it starts one container per user per course through
// package spawner, reports progress while the server comes up, publishes its
// route to the proxy, stops idle servers, and at start reconciles its records
// with what the Docker engine really runs.
//
// Dependencies: course uses lti (launch types), spawner, auth (server tokens
// and OAuth clients) and store. It never sees HTTP requests.
package course
