package course_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/store"
)

// An activity's starting folder is copied into the home once; a file the
// student already has there keeps the student's version.
func TestStartingFolderNeverOverwrites(t *testing.T) {
	f, fe := newEnvMgr(t, nil)
	fe.present["img"] = true
	fe.trees = map[string]map[string]string{
		"/mnt/shared/week1": {"week1/": "", "week1/lab.ipynb": "teacher's lab", "week1/data.csv": "1,2"},
		"/mnt/home/week1":   {"week1/": "", "week1/lab.ipynb": "student's lab"},
	}
	act := store.Activity{CourseID: f.course.ID, ResourceLinkID: "w1", StartPath: "week1"}
	require.NoError(t, f.db.Create(&act).Error)

	final := f.ensureFor(t, f.user, store.RoleLearner, &act)
	require.True(t, final.Ready, final.Message)
	require.Equal(t, map[string]string{"/mnt/home/week1/data.csv": "1,2"}, fe.written,
		"only what the home lacks is copied")
	var n int64
	require.NoError(t, f.db.Model(&store.StartCopy{}).Where("user_id = ? AND activity_id = ?", f.user.ID, act.ID).
		Count(&n).Error)
	require.EqualValues(t, 1, n)

	// The next start copies nothing, even what the student deleted since.
	fe.written = nil
	srv := f.server(t)
	require.NoError(t, f.mgr.Stop(context.Background(), srv.ID, "test"))
	final = f.ensureFor(t, f.user, store.RoleLearner, &act)
	require.True(t, final.Ready, final.Message)
	require.Empty(t, fe.written)
}
