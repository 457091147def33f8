// Package grade keeps the grades instructors and autograders give and
// delivers them to the LMS gradebook, never losing one.
//
// [Service.Set] writes a grade and its outbox entry (a store.GradeDelivery)
// in one transaction. Every change of a grade bumps its version and gives
// it a timestamp strictly later, to the second, than the previous one, as
// Moodle requires of AGS scores. [Service.Run] is the worker: it sends the
// current version of each due entry — LTI 1.3 Assignment and Grade Services
// through package advantage, LTI 1.1 Basic Outcomes through package lti —
// with bounded concurrency, and records the outcome:
//
//   - acknowledged (or, for AGS, refused with 409 because the platform
//     already holds this version or a newer one): delivered;
//   - refused for a reason only a person can fix (a user Moodle does not
//     grade, such as a teacher; a token the platform refuses; an activity
//     without grade passback): failed, with a message for the instructor and
//     a retry;
//   - not deliverable yet (the student never opened the activity from the
//     LMS, so Labhub does not know where the grade goes): waiting;
//   - anything else (the LMS is down, a timeout): tried again after an
//     exponential backoff with jitter.
//
// Only the newest version of a grade is ever sent, one request at a time
// per grade, so an older grade never replaces a newer one. A request whose
// answer was lost (Labhub killed mid-delivery) is sent again: AGS answers
// 409 to the repeat, and for LTI 1.1 a readResult first checks whether the
// platform already holds the value.
//
// grade depends on store, advantage and lti; it never sees HTTP requests.
package grade
