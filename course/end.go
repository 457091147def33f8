package course

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/store"
)

// EndCourse stops every server of course c and marks the course ended:
// students can no longer start servers (its instructors still can), and the
// course's files stay until the course is deleted.
func (m *Manager) EndCourse(ctx context.Context, actor store.User, c *store.Course) error {
	n, err := m.stopAll(ctx, *c, "course ended by "+actor.Name)
	if err != nil {
		return err
	}
	now := m.opts.Now().UTC()
	if err := m.db.WithContext(ctx).Model(c).Update("ended_at", now).Error; err != nil {
		return fmt.Errorf("mark course ended: %w", err)
	}
	c.EndedAt = &now
	m.Audit(ctx, actor, "course.end", c, "", fmt.Sprintf("%d servers stopped", n))
	return nil
}

// ReopenCourse lets students start servers of an ended course again.
func (m *Manager) ReopenCourse(ctx context.Context, actor store.User, c *store.Course) error {
	if err := m.db.WithContext(ctx).Model(c).Update("ended_at", nil).Error; err != nil {
		return fmt.Errorf("reopen course: %w", err)
	}
	c.EndedAt = nil
	m.Audit(ctx, actor, "course.reopen", c, "", "")
	return nil
}

// stopAll stops every server of course c that is not stopped.
func (m *Manager) stopAll(ctx context.Context, c store.Course, reason string) (int, error) {
	var ids []uint
	if err := m.db.WithContext(ctx).Model(&store.Server{}).Where("course_id = ? AND state <> ?", c.ID, store.StateStopped).
		Pluck("id", &ids).Error; err != nil {
		return 0, fmt.Errorf("list course servers: %w", err)
	}
	for _, id := range ids {
		if err := m.Stop(ctx, id, reason); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// Owner is a user with a home in a course.
type Owner struct {
	ServerID uint
	UserID   uint
	UserName string
	Server   string
}

// HomeOwners lists the users who have a home volume in course c: everyone
// whose server was ever started there.
func (m *Manager) HomeOwners(ctx context.Context, c store.Course) ([]Owner, error) {
	var rows []Owner
	err := m.db.WithContext(ctx).Table("servers").
		Select("servers.id AS server_id, users.id AS user_id, users.name AS user_name, servers.name AS server").
		Joins("JOIN users ON users.id = servers.user_id").
		Where("servers.course_id = ?", c.ID).Order("users.name").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list course homes: %w", err)
	}
	return rows, nil
}

// ExportStudent writes one student's work in course c to w as a gzipped tar
// archive: their home under home/ and their hand-ins under handins/, in the
// hand-in volume's layout (<activity>/<user>/<time>/).
func (m *Manager) ExportStudent(ctx context.Context, c store.Course, userName string, w io.Writer) error {
	owners, err := m.HomeOwners(ctx, c)
	if err != nil {
		return err
	}
	for _, o := range owners {
		if o.UserName == userName {
			return m.exportHome(ctx, c, o, w)
		}
	}
	return store.ErrNotFound
}

func (m *Manager) exportHome(ctx context.Context, c store.Course, o Owner, w io.Writer) error {
	e, err := m.engine()
	if err != nil {
		return err
	}
	image, err := m.HelperImage(ctx, c)
	if err != nil {
		return err
	}
	home, err := m.HomeVolume(o.UserName, o.Server)
	if err != nil {
		return err
	}
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	var rc io.ReadCloser
	if m.opts.Names.HomesPerServer() {
		rc, err = e.ReadTar(ctx, image, []spawner.Mount{{Volume: home, Target: helperHome, ReadOnly: true}}, helperHome)
	} else {
		err = addNote(tw, "home-not-included.txt", sharedHomeNote(home), m.opts.Now())
	}
	switch {
	case rc == nil && err == nil:
	case errors.Is(err, spawner.ErrNotFound):
		// No home volume (it was never created): an empty archive says so.
	case err != nil:
		return fmt.Errorf("read home of %s: %w", o.UserName, err)
	default:
		err := retar(tar.NewReader(rc), tw, "home")
		rc.Close()
		if err != nil {
			return fmt.Errorf("archive home of %s: %w", o.UserName, err)
		}
	}
	if err := m.exportHandins(ctx, e, image, c, o, tw); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	return nil
}

// exportHandins adds a student's finished hand-ins in course c to tw.
func (m *Manager) exportHandins(ctx context.Context, e Engine, image string, c store.Course, o Owner, tw *tar.Writer) error {
	var paths []string
	err := m.db.WithContext(ctx).Model(&store.Handin{}).
		Joins("JOIN activities ON activities.id = handins.activity_id").
		Where("activities.course_id = ? AND handins.user_id = ? AND handins.state = ?", c.ID, o.UserID, store.HandinDone).
		Order("handins.path").Pluck("handins.path", &paths).Error
	if err != nil {
		return fmt.Errorf("list hand-ins of %s: %w", o.UserName, err)
	}
	vol := m.opts.Names.Handins(c.Slug)
	for _, p := range paths {
		rc, err := e.ReadTar(ctx, image, []spawner.Mount{{Volume: vol, Target: helperHandins, ReadOnly: true}},
			path.Join(helperHandins, p))
		if errors.Is(err, spawner.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read hand-in %s: %w", p, err)
		}
		err = retar(tar.NewReader(rc), tw, path.Join("handins", p))
		rc.Close()
		if err != nil {
			return fmt.Errorf("archive hand-in %s: %w", p, err)
		}
	}
	return nil
}

// sharedHomeNote explains why an export has no home folder.
func sharedHomeNote(volume string) string {
	return "This Labhub keeps one home folder per user for every course (volume " + volume + ", from\n" +
		"the home volume setting), so a course's export does not include it: it holds the user's\n" +
		"work from other courses too. An administrator can copy it from the Docker engine.\n"
}

// addNote adds a text file to tw.
func addNote(tw *tar.Writer, name, text string, now time.Time) error {
	h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(text)), ModTime: now, Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err := io.WriteString(tw, text)
	return err
}

// retar copies the regular files and directories of tr into tw under
// prefix.
func retar(tr *tar.Reader, tw *tar.Writer, prefix string) error {
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(underRoot(h.Name), "/")
		if name == "" || (h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeDir) {
			continue
		}
		h.Name = path.Join(prefix, name)
		if h.Typeflag == tar.TypeDir {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.Copy(tw, tr); err != nil {
				return err
			}
		}
	}
}

// ExportAll writes a zip archive to w holding one <user>.tar.gz per user
// with a home in course c (see ExportStudent), and records it in the audit
// log.
func (m *Manager) ExportAll(ctx context.Context, actor store.User, c store.Course, w io.Writer) error {
	owners, err := m.HomeOwners(ctx, c)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(w)
	for _, o := range owners {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: o.UserName + ".tar.gz", Method: zip.Store,
			Modified: m.opts.Now()})
		if err != nil {
			return fmt.Errorf("write export: %w", err)
		}
		if err := m.exportHome(ctx, c, o, fw); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write export: %w", err)
	}
	m.Audit(ctx, actor, "course.export", &c, "", fmt.Sprintf("%d archives", len(owners)))
	return nil
}

// DeleteCourse removes everything Labhub keeps of course c: its servers and
// their containers, every home volume, the shared files, the hand-ins, the
// course network, and its records (enrollments, activities, grade links,
// grades and their deliveries, hand-ins, starting copies, help grants). The
// audit log keeps what happened. A course whose grades have not all
// reached the LMS is not deleted: a grade is never lost silently.
func (m *Manager) DeleteCourse(ctx context.Context, actor store.User, c store.Course) error {
	var undelivered int64
	err := m.db.WithContext(ctx).Model(&store.GradeDelivery{}).
		Joins("JOIN grades ON grades.id = grade_deliveries.grade_id").
		Joins("JOIN activities ON activities.id = grades.activity_id").
		Where("activities.course_id = ? AND grade_deliveries.state IN ?", c.ID,
			[]string{store.DeliveryPending, store.DeliveryWaiting}).
		Count(&undelivered).Error
	if err != nil {
		return fmt.Errorf("count undelivered grades: %w", err)
	}
	if undelivered > 0 {
		return &InputError{Msg: fmt.Sprintf("%d grade(s) of this course have not reached the LMS yet. "+
			"Wait until they are delivered (or retry or remove them on the grading pages), then delete the course.", undelivered)}
	}
	if _, err := m.stopAll(ctx, c, "course deleted by "+actor.Name); err != nil {
		return err
	}
	owners, err := m.HomeOwners(ctx, c)
	if err != nil {
		return err
	}
	e, err := m.engine()
	if err != nil {
		return err
	}
	for _, o := range owners {
		if !m.opts.Names.HomesPerServer() {
			// The home holds the user's work from every course.
			break
		}
		home, err := m.HomeVolume(o.UserName, o.Server)
		if err != nil {
			return err
		}
		if err := e.RemoveVolume(ctx, home); err != nil {
			return fmt.Errorf("delete home of %s: %w", o.UserName, err)
		}
	}
	if err := e.RemoveVolume(ctx, m.opts.Names.Shared(c.Slug)); err != nil {
		return fmt.Errorf("delete course files: %w", err)
	}
	if err := e.RemoveVolume(ctx, m.opts.Names.Handins(c.Slug)); err != nil {
		return fmt.Errorf("delete hand-ins: %w", err)
	}
	if err := e.RemoveNetwork(ctx, m.CourseNetworkName(c.Slug)); err != nil {
		return fmt.Errorf("delete course network: %w", err)
	}
	err = m.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var serverIDs, activityIDs, gradeIDs []uint
		if err := tx.Model(&store.Server{}).Where("course_id = ?", c.ID).Pluck("id", &serverIDs).Error; err != nil {
			return err
		}
		if err := tx.Model(&store.Activity{}).Where("course_id = ?", c.ID).Pluck("id", &activityIDs).Error; err != nil {
			return err
		}
		if len(activityIDs) > 0 {
			if err := tx.Model(&store.Grade{}).Where("activity_id IN ?", activityIDs).Pluck("id", &gradeIDs).Error; err != nil {
				return err
			}
		}
		steps := []struct {
			model any
			where string
			arg   any
		}{
			{&store.HelpGrant{}, "server_id IN ?", serverIDs},
			{&store.Token{}, "server_id IN ?", serverIDs},
			{&store.OAuthClient{}, "server_id IN ?", serverIDs},
			{&store.Server{}, "course_id = ?", c.ID},
			{&store.StartCopy{}, "activity_id IN ?", activityIDs},
			{&store.GradeLink{}, "activity_id IN ?", activityIDs},
			{&store.GradeDelivery{}, "grade_id IN ?", gradeIDs},
			{&store.Grade{}, "activity_id IN ?", activityIDs},
			{&store.Handin{}, "activity_id IN ?", activityIDs},
			{&store.Assignment{}, "activity_id IN ?", activityIDs},
			{&store.Activity{}, "course_id = ?", c.ID},
			{&store.Enrollment{}, "course_id = ?", c.ID},
			{&store.Course{}, "id = ?", c.ID},
		}
		for _, s := range steps {
			if ids, ok := s.arg.([]uint); ok && len(ids) == 0 {
				continue
			}
			if err := tx.Where(s.where, s.arg).Delete(s.model).Error; err != nil {
				return fmt.Errorf("delete %T: %w", s.model, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete course records: %w", err)
	}
	m.Audit(ctx, actor, "course.delete", &c, "", fmt.Sprintf("%d homes", len(owners)))
	return nil
}
