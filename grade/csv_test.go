package grade_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/grade"
	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/store"
)

// An exported roster, edited and imported again, changes exactly the
// grades that were edited.
func TestCSVRoundTrip(t *testing.T) {
	e := newEnv(t, testutil.SQLite(t), nil)
	ctx := context.Background()
	a := e.launch13(student(1), course101, lab1)
	b := e.launch13(student(2), course101, lab1)
	e.launch13(student(3), course101, lab1)
	e.set(a.Activity.ID, a.User.ID, 7, 10)
	require.NoError(t, e.db.Model(&store.Grade{}).Where("user_id = ?", a.User.ID).
		Update("comment", "Well done, \"really\"\nsecond line").Error)

	var buf bytes.Buffer
	require.NoError(t, e.svc.ExportCSV(ctx, a.Activity, &buf))
	recs, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"username", "name", "email", "score", "maximum", "comment", "handed_in", "handins",
		"status", "status_detail"}, recs[0])
	require.Len(t, recs, 4)
	require.Equal(t, []string{"student1", "Sam 1", "s1@example.invalid", "7", "10", "Well done, \"really\"\nsecond line",
		"", "0", "queued", "Being sent to the LMS."}, recs[1])
	require.Equal(t, "student2", recs[2][0])
	require.Equal(t, "", recs[2][3])

	// Give student2 a score, leave the others as they were.
	recs[2][3] = "4.5"
	var out bytes.Buffer
	w := csv.NewWriter(&out)
	require.NoError(t, w.WriteAll(recs))
	users := map[string]uint{"student1": a.User.ID, "student2": b.User.ID, "student3": e.userID("student3")}
	entries, err := grade.ParseCSV(&out, users)
	require.NoError(t, err)
	changes, err := e.svc.Set(ctx, a.Activity.ID, entries, "csv", "teacher1")
	require.NoError(t, err)
	changed := 0
	for _, c := range changes {
		if c.Changed {
			changed++
			require.Equal(t, b.User.ID, c.UserID)
		}
	}
	require.Equal(t, 1, changed)
	var g store.Grade
	require.NoError(t, e.db.Where("user_id = ?", b.User.ID).First(&g).Error)
	require.InDelta(t, 4.5, *g.Score, 0)
	require.Equal(t, 100.0, g.Maximum, "an empty maximum is the activity's")
	require.Equal(t, "csv", g.Source)
}

// A file without a maximum or comment column keeps those of existing
// grades; a new grade gets the activity's maximum.
func TestCSVImportKeepsOmittedColumns(t *testing.T) {
	e := newEnv(t, testutil.SQLite(t), nil)
	ctx := context.Background()
	a := e.launch13(student(1), course101, lab1)
	b := e.launch13(student(2), course101, lab1)
	e.set(a.Activity.ID, a.User.ID, 7, 10)
	require.NoError(t, e.db.Model(&store.Grade{}).Where("user_id = ?", a.User.ID).Update("comment", "ok").Error)
	users := map[string]uint{"student1": a.User.ID, "student2": b.User.ID}

	entries, err := grade.ParseCSV(strings.NewReader("username,score\nstudent1,8\nstudent2,55\n"), users)
	require.NoError(t, err)
	_, err = e.svc.Set(ctx, a.Activity.ID, entries, "csv", "teacher1")
	require.NoError(t, err)
	var ga, gb store.Grade
	require.NoError(t, e.db.Where("user_id = ?", a.User.ID).First(&ga).Error)
	require.NoError(t, e.db.Where("user_id = ?", b.User.ID).First(&gb).Error)
	require.Equal(t, 8.0, *ga.Score)
	require.Equal(t, 10.0, ga.Maximum, "an omitted maximum keeps the grade's")
	require.Equal(t, "ok", ga.Comment, "an omitted comment keeps the grade's")
	require.Equal(t, grade.DefaultMaximum, gb.Maximum, "a new grade gets the activity's maximum")

	// A score above the kept maximum is refused, as it would be with the
	// column.
	entries, err = grade.ParseCSV(strings.NewReader("username,score\nstudent1,11\n"), users)
	require.NoError(t, err)
	_, err = e.svc.Set(ctx, a.Activity.ID, entries, "csv", "teacher1")
	var ie *grade.InputError
	require.ErrorAs(t, err, &ie)

	// An empty maximum keeps the grade's too; an empty comment of a
	// present column clears the comment.
	entries, err = grade.ParseCSV(strings.NewReader("username,score,maximum,comment\nstudent1,9,,\n"), users)
	require.NoError(t, err)
	_, err = e.svc.Set(ctx, a.Activity.ID, entries, "csv", "teacher1")
	require.NoError(t, err)
	require.NoError(t, e.db.Where("user_id = ?", a.User.ID).First(&ga).Error)
	require.Equal(t, 10.0, ga.Maximum)
	require.Equal(t, "", ga.Comment)
}

func (e *env) userID(name string) uint {
	var u store.User
	require.NoError(e.t, e.db.Where("name = ?", name).First(&u).Error)
	return u.ID
}

func TestParseCSV(t *testing.T) {
	users := map[string]uint{"alice": 1, "bob": 2, "carol": 3}
	entries, err := grade.ParseCSV(strings.NewReader("\ufeffUsername,Comment,Score,Maximum\n"+
		"ALICE,ok,7,10\nbob,,,\n\n carol , x , 3 ,\n"), users)
	require.NoError(t, err)
	require.Len(t, entries, 3)
	require.Equal(t, uint(1), entries[0].UserID)
	require.InDelta(t, 7, *entries[0].Score, 0)
	require.Equal(t, 10.0, entries[0].Maximum)
	require.Equal(t, "ok", entries[0].Comment)
	require.Nil(t, entries[1].Score, "an empty score clears")
	require.InDelta(t, 3, *entries[2].Score, 0)
	require.Equal(t, "x", entries[2].Comment)
	require.Zero(t, entries[2].Maximum)

	// Spreadsheets in decimal-comma locales write semicolons.
	entries, err = grade.ParseCSV(strings.NewReader("username;score;maximum\nalice;7,5;10\nbob;8.25;\n"), users)
	require.NoError(t, err)
	require.InDelta(t, 7.5, *entries[0].Score, 0)
	require.InDelta(t, 8.25, *entries[1].Score, 0)

	for name, tc := range map[string]struct{ in, want string }{
		"no header":       {"", "empty"},
		"missing columns": {"user,points\nalice,1\n", "at least username and score"},
		"every problem at once": {"username,score\nalice,seven\nmallory,1\n,3\nbob,1\nbob,2\n",
			`line 2: score "seven" is not a number; line 3: mallory is not in this course; line 4: no username; line 6: bob already appears on line 5`},
		"bad maximum":  {"username,score,maximum\nalice,1,0\n", `maximum "0" is not a positive number (leave it empty`},
		"broken quote": {"username,score\nalice,\"1\n", "not valid CSV"},
	} {
		_, err := grade.ParseCSV(strings.NewReader(tc.in), users)
		var ie *grade.InputError
		require.ErrorAs(t, err, &ie, name)
		require.Contains(t, ie.Msg, tc.want, name)
	}
}

func TestConfigure(t *testing.T) {
	e := newEnv(t, testutil.SQLite(t), nil)
	ctx := context.Background()
	s := e.launch13(student(1), course101, lab1)
	a, err := e.svc.Assignment(ctx, s.Activity.ID)
	require.NoError(t, err)
	require.Equal(t, grade.DefaultMaximum, a.ScoreMaximum)
	require.Nil(t, a.DueAt)
	var ie *grade.InputError
	require.ErrorAs(t, e.svc.Configure(ctx, s.Activity.ID, grade.Settings{ScoreMaximum: 0}), &ie)
	require.ErrorAs(t, e.svc.Configure(ctx, s.Activity.ID, grade.Settings{ScoreMaximum: 10, LockAtDue: true}), &ie)
	due := e.Now().Add(48 * 3600e9)
	require.NoError(t, e.svc.Configure(ctx, s.Activity.ID, grade.Settings{ScoreMaximum: 10, DueAt: &due, LockAtDue: true}))
	a, err = e.svc.Assignment(ctx, s.Activity.ID)
	require.NoError(t, err)
	require.Equal(t, 10.0, a.ScoreMaximum)
	require.True(t, a.LockAtDue)
	require.Equal(t, due.Unix(), a.DueAt.Unix())
	// Settings do not touch a line item Labhub created.
	require.NoError(t, e.db.Model(&store.Assignment{}).Where("activity_id = ?", s.Activity.ID).
		Update("line_item_url", "https://lms.example/item").Error)
	require.NoError(t, e.svc.Configure(ctx, s.Activity.ID, grade.Settings{ScoreMaximum: 20}))
	a, err = e.svc.Assignment(ctx, s.Activity.ID)
	require.NoError(t, err)
	require.Equal(t, "https://lms.example/item", a.LineItemURL)
	require.Nil(t, a.DueAt)
}

// A maximum must be positive and at most a million, whichever way it
// comes; an explicit zero is an error, not "keep the maximum".
func TestMaximumBounds(t *testing.T) {
	e := newEnv(t, testutil.SQLite(t), nil)
	ctx := context.Background()
	s := e.launch13(student(1), course101, lab1)
	var ie *grade.InputError
	_, err := e.svc.Set(ctx, s.Activity.ID, []grade.Entry{{UserID: s.User.ID, Score: ptr(1), Maximum: 1_000_001}}, "test", "t")
	require.ErrorAs(t, err, &ie)
	require.Equal(t, "The maximum score must be at most 1000000.", ie.Msg)
	_, err = e.svc.Set(ctx, s.Activity.ID, []grade.Entry{{UserID: s.User.ID, Score: ptr(1), Maximum: -5}}, "test", "t")
	require.ErrorAs(t, err, &ie)
	_, err = e.svc.Set(ctx, s.Activity.ID, []grade.Entry{{UserID: s.User.ID, Score: ptr(1), Maximum: 1_000_000}}, "test", "t")
	require.NoError(t, err)
	require.ErrorAs(t, e.svc.Configure(ctx, s.Activity.ID, grade.Settings{ScoreMaximum: 1_000_001}), &ie)
	require.Equal(t, "The maximum score must be at most 1000000.", ie.Msg)
	require.ErrorAs(t, e.svc.Configure(ctx, s.Activity.ID, grade.Settings{ScoreMaximum: -1}), &ie)
	require.NoError(t, e.svc.Configure(ctx, s.Activity.ID, grade.Settings{ScoreMaximum: 1_000_000}))

	users := map[string]uint{"alice": 1}
	for in, want := range map[string]string{
		"0":       `line 2: maximum "0" is not a positive number`,
		"-2":      `line 2: maximum "-2" is not a positive number`,
		"2000000": `line 2: maximum "2000000" is above 1000000`,
	} {
		_, err := grade.ParseCSV(strings.NewReader("username,score,maximum\nalice,1,"+in+"\n"), users)
		require.ErrorAs(t, err, &ie, in)
		require.Contains(t, ie.Msg, want, in)
	}
}

// A file that is not UTF-8 is refused with how to save it as UTF-8; a
// UTF-8 byte order mark is fine.
func TestParseCSVEncoding(t *testing.T) {
	users := map[string]uint{"alice": 1}
	const want = "The file is not UTF-8 text. Save it as CSV UTF-8 (in Excel: Save As → CSV UTF-8) and import it again."
	for name, in := range map[string]string{
		"latin-1":     "username,score,comment\nalice,1,caf\xe9\n",
		"utf-16 le":   "\xff\xfeu\x00s\x00e\x00r\x00",
		"utf-16 be":   "\xfe\xff\x00u\x00s\x00e\x00r",
		"late latin1": "username,score,comment\n" + strings.Repeat("alice,1,ok\n", 0) + "alice,1,na\xefve\n",
	} {
		_, err := grade.ParseCSV(strings.NewReader(in), users)
		var ie *grade.InputError
		require.ErrorAs(t, err, &ie, name)
		require.Equal(t, want, ie.Msg, name)
	}
	entries, err := grade.ParseCSV(strings.NewReader("\ufeffusername,score,comment\nalice,1,café\n"), users)
	require.NoError(t, err)
	require.Equal(t, "café", entries[0].Comment)
}

// Text cells that a spreadsheet would run as a formula are exported with a
// leading quote, which the import takes off again.
func TestCSVFormulaCells(t *testing.T) {
	e := newEnv(t, testutil.SQLite(t), nil)
	ctx := context.Background()
	users := map[string]uint{}
	var act store.Activity
	comments := []string{"=HYPERLINK(\"http://evil\",\"x\")", "+1 bonus", "-2 late", "@SUM(A1)", "'=kept quote", "plain"}
	for i, c := range comments {
		s := e.launch13(student(i+1), course101, lab1)
		users[s.User.Name] = s.User.ID
		act = s.Activity
		e.set(s.Activity.ID, s.User.ID, 1, 10)
		require.NoError(t, e.db.Model(&store.Grade{}).Where("user_id = ?", s.User.ID).Update("comment", c).Error)
	}
	require.NoError(t, e.db.Model(&store.User{}).Where("name = ?", "student1").Update("display_name", "=cmd|' /C calc'!A0").Error)
	require.NoError(t, e.db.Model(&store.User{}).Where("name = ?", "student2").Update("display_name", "\tTabbed").Error)

	var buf bytes.Buffer
	require.NoError(t, e.svc.ExportCSV(ctx, act, &buf))
	recs, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, len(comments)+1)
	want := []string{"'=HYPERLINK(\"http://evil\",\"x\")", "'+1 bonus", "'-2 late", "'@SUM(A1)", "''=kept quote", "plain"}
	for i, r := range recs[1:] {
		require.Equal(t, want[i], r[5], "comment of %s", r[0])
		require.Equal(t, "1", r[3], "numbers are not quoted")
	}
	require.Equal(t, "'=cmd|' /C calc'!A0", recs[1][1])
	require.Equal(t, "'\tTabbed", recs[2][1])

	entries, err := grade.ParseCSV(bytes.NewReader(buf.Bytes()), users)
	require.NoError(t, err)
	for i, en := range entries {
		require.Equal(t, comments[i], en.Comment)
	}
	changes, err := e.svc.Set(ctx, act.ID, entries, "csv", "teacher1")
	require.NoError(t, err)
	for _, c := range changes {
		require.False(t, c.Changed)
	}
}
