package proxy

import "time"

// SetClock replaces t's clock so tests can stamp activity at known times. It
// must be called before t is used concurrently.
func SetClock(t *Table, now func() time.Time) { t.now = now }
