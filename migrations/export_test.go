package migrations

import "gorm.io/gorm"

// AppendForTest adds a migration after the newest one and returns a
// function that removes it again.
func AppendForTest(up func(tx *gorm.DB) error) func() {
	n := len(all)
	all = append(all, Migration{Version: Latest() + 1, Name: "test", Up: up})
	return func() { all = all[:n] }
}

// V3LTIAdvantage is migration 3, for tests of its data step.
var V3LTIAdvantage = v3LTIAdvantage
