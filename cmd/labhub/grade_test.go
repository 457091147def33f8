package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/store"
)

// labhub grade writes grades and their outbox entries to the database,
// where a running hub finds them; it lists, exports, imports and retries.
func TestGradeCommands(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		out, err := labhub(t, nil, append(args, "--data-dir", dir)...)
		require.NoError(t, err, out)
		return out
	}
	run("migrate")
	db, err := store.Open(context.Background(), "", dir, nil)
	require.NoError(t, err)
	defer db.Close()
	crs := store.Course{Provider: "lti13:1", ContextID: "2", Slug: "lti101", Title: "LTI course"}
	require.NoError(t, db.Create(&crs).Error)
	act := store.Activity{CourseID: crs.ID, ResourceLinkID: "7", Title: "Lab 1"}
	require.NoError(t, db.Create(&act).Error)
	for _, name := range []string{"alice", "bob"} {
		u := store.User{Name: name}
		require.NoError(t, db.Create(&u).Error)
		require.NoError(t, db.Create(&store.Enrollment{CourseID: crs.ID, UserID: u.ID, Role: store.RoleLearner}).Error)
	}
	id := "1"

	out := run("grade", "activities", "lti101")
	require.Contains(t, out, "Lab 1")
	require.Contains(t, out, "100")

	require.Contains(t, run("grade", "set", "lti101", id, "alice", "7", "--maximum", "10", "--comment", "ok"),
		"grade of alice saved (version 1)")
	require.Contains(t, run("grade", "set", "lti101", id, "alice", "7", "--maximum", "10", "--comment", "ok"),
		"unchanged")
	var d store.GradeDelivery
	require.NoError(t, db.First(&d).Error)
	require.Equal(t, store.DeliveryPending, d.State, "queued for the hub's worker")

	csvFile := filepath.Join(t.TempDir(), "in.csv")
	require.NoError(t, os.WriteFile(csvFile, []byte("username,score,comment\nbob,55,nice\nalice,7,ok\n"), 0o600))
	out = run("grade", "import", "lti101", id, csvFile)
	require.Contains(t, out, "2 row(s) read, 1 grade(s) changed", "alice keeps her maximum of 10")

	out = run("grade", "list", "lti101", id)
	require.Contains(t, out, "alice")
	require.Contains(t, out, "55")
	require.Contains(t, out, "queued")

	exported := filepath.Join(t.TempDir(), "out.csv")
	run("grade", "export", "lti101", id, exported)
	b, err := os.ReadFile(exported)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(b), "username,name,email,score,maximum,comment"))
	require.Contains(t, string(b), "bob,,,55,100,nice", "a new grade gets the activity's maximum")
	require.Contains(t, string(b), "alice,,,7,10,ok")
	require.Equal(t, string(b), run("grade", "export", "lti101", id))

	require.NoError(t, db.Model(&store.GradeDelivery{}).Where("1 = 1").Update("state", store.DeliveryFailed).Error)
	require.Contains(t, run("grade", "retry", "lti101", id), "2 grade(s) queued again")
	require.Contains(t, run("grade", "set", "lti101", id, "bob", "--clear"), "saved (version 2)")

	for _, args := range [][]string{
		{"grade", "set", "lti101", id, "carol", "1"},
		{"grade", "set", "lti101", id, "alice"},
		{"grade", "set", "lti101", id, "alice", "1", "--clear"},
		{"grade", "set", "lti101", id, "alice", "seven"},
		{"grade", "set", "lti101", id, "alice", "700"},
		{"grade", "list", "nocourse", id},
		{"grade", "list", "lti101", "99"},
		{"grade", "list", "lti101", "lab1"},
		{"grade", "import", "lti101", id, filepath.Join(dir, "missing.csv")},
	} {
		out, err := labhub(t, nil, append(args, "--data-dir", dir)...)
		require.Error(t, err, "%v: %s", args, out)
	}

	// A maximum typed as 0 is an error, not "keep the maximum".
	for _, m := range []string{"0", "-1", "2000000"} {
		out, err := labhub(t, nil, "grade", "set", "lti101", id, "alice", "1", "--maximum", m, "--data-dir", dir)
		require.Error(t, err, "--maximum %s: %s", m, out)
		require.Contains(t, out+err.Error(), "maximum", m)
	}
	require.Contains(t, run("grade", "set", "lti101", id, "alice", "7"), "unchanged", "no --maximum keeps alice's 10")
}
