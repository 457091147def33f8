package grade

import (
	"fmt"
	"time"

	"github.com/labhub/labhub/store"
)

// Status is a grade's delivery state as people read it.
type Status struct {
	// State is "none" (no grade), "queued", "retrying", "delivered",
	// "waiting" or "failed".
	State string
	// Label is a few words; Detail says why and what happens next.
	Label, Detail string
	// Code is the classified error of the last attempt, if any.
	Code string
	// Retry reports whether asking for another attempt makes sense.
	Retry bool
}

// Describe returns the delivery state of a grade and its outbox entry
// (either may be nil).
func Describe(g *store.Grade, d *store.GradeDelivery) Status {
	switch {
	case g == nil:
		return Status{State: "none", Label: "Not graded"}
	case d == nil:
		return Status{State: "queued", Label: "Queued", Detail: "Not sent yet.", Retry: true}
	}
	when := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }
	switch d.State {
	case store.DeliveryDelivered:
		st := Status{State: "delivered", Label: "Sent to the LMS"}
		if d.DeliveredAt != nil {
			st.Detail = "Acknowledged by the LMS at " + when(*d.DeliveredAt) + "."
		}
		return st
	case store.DeliveryFailed:
		return Status{State: "failed", Label: "Not accepted", Detail: d.LastError, Code: d.Code, Retry: true}
	case store.DeliveryWaiting:
		return Status{State: "waiting", Label: "Waiting", Detail: d.LastError, Code: d.Code, Retry: true}
	}
	if d.Attempts == 0 {
		return Status{State: "queued", Label: "Queued", Detail: "Being sent to the LMS."}
	}
	return Status{State: "retrying", Label: "Retrying", Code: d.Code, Retry: true,
		Detail: fmt.Sprintf("%s Attempt %d failed; the next one is at %s.", d.LastError, d.Attempts,
			when(d.NextAttemptAt))}
}
