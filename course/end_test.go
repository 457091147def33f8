package course_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/store"
)

// A course whose grades have not reached the LMS is not deleted; once they
// have, deleting it removes its volumes, hand-ins and grades.
func TestDeleteCourseKeepsUndeliveredGrades(t *testing.T) {
	ctx := context.Background()
	f := newMgr(t)
	full := newFullEngine(f.engine)
	mgr := course.NewManager(f.db, nil, full, f.routes, course.Options{Instance: "inst", NotebookDir: "/home/jovyan",
		Now: f.Now})
	_, final := f.start(t, store.RoleLearner)
	require.True(t, final.Ready)

	act := store.Activity{CourseID: f.course.ID, ResourceLinkID: "rl"}
	require.NoError(t, f.db.Create(&act).Error)
	g := store.Grade{ActivityID: act.ID, UserID: f.user.ID, Version: 1, Timestamp: time.Now()}
	require.NoError(t, f.db.Create(&g).Error)
	d := store.GradeDelivery{GradeID: g.ID, Version: 1, State: store.DeliveryPending, NextAttemptAt: time.Now()}
	require.NoError(t, f.db.Create(&d).Error)
	require.NoError(t, f.db.Create(&store.Handin{ActivityID: act.ID, UserID: f.user.ID, Path: "a/u/t", State: store.HandinDone}).Error)
	require.NoError(t, f.db.Create(&store.Assignment{ActivityID: act.ID}).Error)

	admin := store.User{Name: "admin", Admin: true}
	err := mgr.DeleteCourse(ctx, admin, f.course)
	var ie *course.InputError
	require.ErrorAs(t, err, &ie)
	require.Contains(t, ie.Msg, "1 grade(s) of this course have not reached the LMS")
	require.Empty(t, full.removed, "nothing is removed")
	var n int64
	require.NoError(t, f.db.Model(&store.Course{}).Count(&n).Error)
	require.EqualValues(t, 1, n)

	require.NoError(t, f.db.Model(&d).Update("state", store.DeliveryDelivered).Error)
	require.NoError(t, mgr.DeleteCourse(ctx, admin, f.course))
	require.Contains(t, full.removed, spawner.HandinVolumeName(f.course.Slug))
	require.Contains(t, full.removed, spawner.SharedVolumeName(f.course.Slug))
	require.Contains(t, full.removed, spawner.HomeVolumeName(f.user.Name, f.course.Slug))
	for _, m := range []any{&store.Course{}, &store.Activity{}, &store.Grade{}, &store.GradeDelivery{}, &store.Handin{},
		&store.Assignment{}, &store.Server{}} {
		require.NoError(t, f.db.Model(m).Count(&n).Error)
		require.Zero(t, n, "%T rows are gone", m)
	}
}

// Homes named without the course (the old deployment's one volume per
// user) hold a student's work from every course: a course's export leaves
// them out and its deletion keeps them.
func TestSharedHomesStayOutOfCourseEnd(t *testing.T) {
	ctx := context.Background()
	f := newMgr(t)
	full := newFullEngine(f.engine)
	names := spawner.Names{HomeTemplate: "jupyterhub-user-{username}"}
	mgr := course.NewManager(f.db, nil, full, f.routes, course.Options{Instance: "inst", NotebookDir: "/home/jovyan",
		Now: f.Now, Names: names, DefaultImage: "img"})
	full.present["img"] = true
	_, final := f.start(t, store.RoleLearner)
	require.True(t, final.Ready)
	home, err := names.Home(f.user.Name, f.course.Slug)
	require.NoError(t, err)

	var buf bytes.Buffer
	require.NoError(t, mgr.ExportStudent(ctx, f.course, f.user.Name, &buf))
	require.NotContains(t, full.read, home, "the shared home is not read")
	files := untarGz(t, buf.Bytes())
	require.Contains(t, files, "home-not-included.txt")
	require.Contains(t, files["home-not-included.txt"], "every course")

	admin := store.User{Name: "admin", Admin: true}
	require.NoError(t, mgr.DeleteCourse(ctx, admin, f.course))
	require.Contains(t, full.removed, names.Shared(f.course.Slug))
	require.NotContains(t, full.removed, home)
}

// untarGz returns the regular files of a gzipped tar archive by name.
func untarGz(t *testing.T, b []byte) map[string]string {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	files := map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		require.NoError(t, err)
		if h.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			require.NoError(t, err)
			files[h.Name] = string(data)
		}
	}
}
