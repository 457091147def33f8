package migrations

import "gorm.io/gorm"

// AppendForTest adds a migration after the newest one and returns a
// function that removes it again.
func AppendForTest(up func(tx *gorm.DB) error) func() {
	n := len(all)
	all = append(all, Migration{Version: Latest() + 1, Name: "test", Up: up})
	return func() { all = all[:n] }
}
