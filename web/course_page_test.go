package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/store"
)

// A course's limits above a maximum the administrator lowered later are
// shown as that maximum, so the form can be saved as shown.
func TestCoursePageShowsLimitsInEffect(t *testing.T) {
	g := newGrading(t, false)
	teacher := g.launch(t, gTeacher)
	require.NoError(t, g.db.Create(&store.Image{Name: "nb", Ref: "img", MemMax: 1 << 30, CPUMax: 5e8}).Error)
	require.NoError(t, g.db.Model(&store.Course{}).Where("slug = ?", g.slug).
		Updates(map[string]any{"mem_limit": int64(3 << 30), "nano_cpus": int64(2e9)}).Error)
	status, body := page(t, teacher, g.hub.URL+"/hub/courses/"+g.slug+"/")
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, `id="mem" value="1G"`)
	require.Contains(t, body, `id="cpu" value="0.5"`)
	require.Contains(t, body, "default no limit, at most 1G")
	require.Contains(t, body, ">nb (not downloaded yet)<", "no colon without a description")
}
