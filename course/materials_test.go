package course_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/course"
)

// Uploads the volume cannot take are refused as the teacher's to fix,
// before anything is written.
func TestUploadMaterialsRefusals(t *testing.T) {
	f, fe := newEnvMgr(t, nil)
	fe.present["img"] = true
	fe.trees = map[string]map[string]string{"/mnt/shared": {
		"shared/": "", "shared/week1/": "", "shared/notes.txt": "n", "shared/week1/a.ipynb": "{}",
	}}
	up := func(dir, name string) error {
		return f.mgr.UploadMaterials(context.Background(), f.user, f.course, dir,
			[]course.Upload{{Name: name, Size: 1, Body: strings.NewReader("x")}})
	}
	for _, tc := range []struct{ dir, name, want string }{
		{"", strings.Repeat("a", 256) + ".csv", "longer than 255 bytes"},
		{strings.Repeat("d", 256), "x.csv", "longer than 255 bytes"},
		{"", "week1", "a folder named week1"},
		{"data", "week1", ""},
		{"notes.txt", "x.csv", "notes.txt is a file"},
		{"notes.txt/sub", "x.csv", "notes.txt is a file"},
	} {
		err := up(tc.dir, tc.name)
		if tc.want == "" {
			require.NoError(t, err, "%s/%s", tc.dir, tc.name)
			continue
		}
		var ie *course.InputError
		require.True(t, errors.As(err, &ie), "%s/%s: %v", tc.dir, tc.name, err)
		require.Contains(t, ie.Msg, tc.want)
	}
	for name := range fe.written {
		require.NotContains(t, name, ".csv", "a refused upload was written")
	}
	require.Contains(t, fe.written, "/mnt/shared/data/week1")
	require.NoError(t, up("week1", "b.ipynb"))
}
