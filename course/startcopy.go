package course

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"gorm.io/gorm/clause"

	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/store"
)

// Where helper containers see the volumes they copy between.
const (
	helperShared  = "/mnt/shared"
	helperHome    = "/mnt/home"
	helperHandins = "/mnt/handins"
)

// CleanPath turns a path relative to a volume's root, as a person types it,
// into its clean form without a leading slash; ok is false when it leaves
// the volume or names its root.
func CleanPath(p string) (string, bool) {
	p = strings.TrimSpace(strings.ReplaceAll(p, "\\", "/"))
	if p == "" || strings.ContainsRune(p, 0) {
		return "", false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return "", false
		}
	}
	c := strings.TrimPrefix(path.Clean("/"+p), "/")
	if c == "" || c == "." {
		return "", false
	}
	return c, true
}

// owner returns the uid and gid new files in volumes get.
func (m *Manager) owner() (uid, gid int, ok bool) {
	u, g, found := strings.Cut(m.opts.VolumeOwner, ":")
	if !found {
		return 0, 0, false
	}
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	return uid, gid, err1 == nil && err2 == nil
}

// copyStart copies the activity's starting notebook or folder from the
// course's files into the user's home the first time the user starts from
// that activity. Files the home already has are left as they are, so a
// student's changes are never overwritten; the copy is recorded so it
// happens once. A problem is reported on the start's feed and logged, and
// the server starts anyway.
func (m *Manager) copyStart(ctx context.Context, f *feed, u store.User, c store.Course, a *store.Activity,
	image, home, shared string) {
	if a == nil || a.StartPath == "" {
		return
	}
	log := m.log.With("user", u.Name, "course", c.Slug, "activity_id", a.ID, "start_path", a.StartPath)
	rel, ok := CleanPath(a.StartPath)
	if !ok {
		log.Warn("ignored starting path outside the course files")
		return
	}
	var n int64
	if err := m.db.WithContext(ctx).Model(&store.StartCopy{}).Where("user_id = ? AND activity_id = ?", u.ID, a.ID).
		Count(&n).Error; err != nil {
		log.Error("failed to check starting notebook copy", "error", err)
		return
	}
	if n > 0 {
		return
	}
	e, err := m.engine()
	if err != nil {
		log.Error("failed to copy starting notebook", "error", err)
		return
	}
	f.publish(Event{Progress: 22, Message: "Copying " + path.Base(rel) + " into your files"})
	files, skipped, err := m.copyInto(ctx, e, image, home, shared, rel)
	if errors.Is(err, spawner.ErrNotFound) {
		f.publish(Event{Progress: 24, Message: "The starting notebook " + rel + " is not among the course's files yet; ask your teacher"})
		log.Warn("starting notebook missing from course files")
		return
	}
	if err != nil {
		f.publish(Event{Progress: 24, Message: "Your starting notebook could not be copied this time"})
		log.Error("failed to copy starting notebook", "error", err)
		return
	}
	rec := store.StartCopy{UserID: u.ID, ActivityID: a.ID, Path: rel, Files: files, Skipped: skipped,
		CopiedAt: m.opts.Now().UTC()}
	if err := m.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&rec).Error; err != nil {
		log.Error("failed to record starting notebook copy", "error", err)
		return
	}
	log.Info("copied starting notebook", "files", files, "skipped", skipped)
}

// copyInto copies rel from the shared volume into the root of home,
// leaving entries home already has, and returns how many files it copied
// and skipped.
func (m *Manager) copyInto(ctx context.Context, e Engine, image, home, shared, rel string) (files, skipped int, err error) {
	mounts := []spawner.Mount{{Volume: shared, Target: helperShared, ReadOnly: true}, {Volume: home, Target: helperHome}}
	existing, err := m.names(ctx, e, image, mounts, path.Join(helperHome, path.Base(rel)))
	if err != nil && !errors.Is(err, spawner.ErrNotFound) {
		return 0, 0, fmt.Errorf("list home: %w", err)
	}
	src, err := e.ReadTar(ctx, image, mounts, path.Join(helperShared, rel))
	if err != nil {
		return 0, 0, err
	}
	defer src.Close()
	uid, gid, own := m.owner()
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tr := tar.NewReader(src)
		tw := tar.NewWriter(pw)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			name := strings.TrimSuffix(h.Name, "/")
			if existing[name] {
				if h.Typeflag == tar.TypeReg {
					skipped++
				}
				continue
			}
			if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeDir {
				// Links and devices from the course files are not copied.
				continue
			}
			if own {
				h.Uid, h.Gid, h.Uname, h.Gname = uid, gid, "", ""
			}
			// The copy is the student's to change.
			h.Mode |= 0o600
			if h.Typeflag == tar.TypeDir {
				h.Mode |= 0o700
			}
			if err := tw.WriteHeader(h); err != nil {
				pw.CloseWithError(err)
				return
			}
			if h.Typeflag == tar.TypeReg {
				if _, err := io.Copy(tw, tr); err != nil {
					pw.CloseWithError(err)
					return
				}
				files++
			}
		}
		pw.CloseWithError(tw.Close())
	}()
	err = e.WriteTar(ctx, image, mounts, helperHome, pr)
	pr.CloseWithError(err)
	<-done
	if err != nil {
		return 0, 0, fmt.Errorf("write into home: %w", err)
	}
	return files, skipped, nil
}

// names returns the names of the entries under p (p's own base name first),
// as a tar stream of it names them.
func (m *Manager) names(ctx context.Context, e Engine, image string, mounts []spawner.Mount, p string) (map[string]bool, error) {
	rc, err := e.ReadTar(ctx, image, mounts, p)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	out := map[string]bool{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out[strings.TrimSuffix(h.Name, "/")] = true
	}
}
