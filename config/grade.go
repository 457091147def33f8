package config

import (
	"fmt"
	"time"
)

// GradeSettings holds the settings of hand-ins and of grade delivery to the
// LMS.
type GradeSettings struct {
	Concurrency    int
	RetryMin       time.Duration
	RetryMax       time.Duration
	Poll           time.Duration
	HandinMaxSize  int64
	HandinMaxFiles int
}

// declareGrades declares the settings of c on s.
func declareGrades(s *Set, c *GradeSettings) {
	g := "Grades and hand-ins"
	s.Int(&c.Concurrency, Setting{Flag: "grade-concurrency", Env: []string{"LABHUB_GRADE_CONCURRENCY"}, Default: "4", Group: g,
		Usage: "How many grades are sent to LMS gradebooks at once."})
	s.Duration(&c.RetryMin, Setting{Flag: "grade-retry-min", Env: []string{"LABHUB_GRADE_RETRY_MIN"}, Default: "5s", Group: g,
		Usage: "Wait before trying again to send a grade the LMS could not take; it doubles with every attempt (with jitter)."})
	s.Duration(&c.RetryMax, Setting{Flag: "grade-retry-max", Env: []string{"LABHUB_GRADE_RETRY_MAX"}, Default: "1h", Group: g,
		Usage: "Longest wait between two attempts to send a grade; Labhub never gives up on an LMS that is down."})
	s.Duration(&c.Poll, Setting{Flag: "grade-poll", Env: []string{"LABHUB_GRADE_POLL"}, Default: "2s", Group: g,
		Usage: "How often the hub looks for grades queued by `labhub grade` commands."})
	s.Bytes(&c.HandinMaxSize, Setting{Flag: "handin-max-size", Env: []string{"LABHUB_HANDIN_MAX_SIZE"}, Default: "100M", Group: g,
		Usage: "Largest hand-in, all files together."})
	s.Int(&c.HandinMaxFiles, Setting{Flag: "handin-max-files", Env: []string{"LABHUB_HANDIN_MAX_FILES"}, Default: "1000", Group: g,
		Usage: "Most files in one hand-in."})
}

// validate checks the settings.
func (c *GradeSettings) validate() error {
	switch {
	case c.Concurrency < 1:
		return fmt.Errorf("grade concurrency must be at least 1")
	case c.RetryMin <= 0 || c.RetryMax < c.RetryMin:
		return fmt.Errorf("grade retry waits must be positive, the longest at least the first (%s, %s)", c.RetryMin, c.RetryMax)
	case c.Poll <= 0:
		return fmt.Errorf("grade poll interval must be positive")
	case c.HandinMaxSize <= 0 || c.HandinMaxFiles <= 0:
		return fmt.Errorf("hand-in limits must be positive")
	}
	return nil
}
