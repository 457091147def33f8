package web_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/store"
)

// Once a course has ended, a student's home page says so instead of
// offering a start that would be refused; the teacher can still start.
func TestHomeAfterCourseEnded(t *testing.T) {
	g := newGrading(t, false)
	student := g.launch(t, gStudent)
	teacher := g.launch(t, gTeacher)
	now := time.Now()
	require.NoError(t, g.db.Model(&store.Course{}).Where("slug = ?", g.slug).Update("ended_at", &now).Error)
	require.NoError(t, g.db.Model(&store.Server{}).Where("1 = 1").Update("state", store.StateStopped).Error)

	status, body := page(t, student, g.hub.URL+"/hub/home")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "course ended")
	require.NotContains(t, body, "<button>Start</button>")

	_, body = page(t, teacher, g.hub.URL+"/hub/home")
	require.Contains(t, body, "<button>Start</button>")
	require.NotContains(t, body, "course ended")
}
