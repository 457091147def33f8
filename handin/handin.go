// Package handin takes students' hand-ins: read-only, timestamped copies of
// the files they choose from their home volume, kept in the course's
// hand-in volume at <activity>/<user>/<time>-<random>/ with the layout they had at
// home. A later hand-in never touches an earlier one. Instructors' servers
// mount the hand-in volume read-only (package course), and the instructor
// pages read single hand-ins through this package.
//
// Files move through package spawner's helper containers, which never run:
// the chosen paths are read from the home volume as tar streams, checked
// against the size limits and rewritten into one archive on local disk
// (owner root, files 0444, directories 0555), and only a complete archive
// is extracted into the hand-in volume.
//
// handin depends on course (names and labels), spawner and store.
package handin

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/store"
)

// Files reaches into volumes; *spawner.Docker implements it.
type Files interface {
	EnsureVolume(ctx context.Context, name string, labels map[string]string, owner, image string) (bool, error)
	ReadTar(ctx context.Context, image string, mounts []spawner.Mount, p string) (io.ReadCloser, error)
	WriteTar(ctx context.Context, image string, mounts []spawner.Mount, dir string, r io.Reader) error
	RemoveTree(ctx context.Context, image string, mounts []spawner.Mount, p string) error
}

// Options configures a Service.
type Options struct {
	// Files reaches the volumes. It must be set.
	Files Files
	// Image is any image present on the engine, for the helper containers,
	// used when HelperImage is nil.
	Image string
	// HelperImage, if set, picks the image of a course's helper containers
	// (one the engine has: the course's or the site's).
	HelperImage func(ctx context.Context, c store.Course) (string, error)
	// Names builds volume names as the course manager does.
	Names spawner.Names
	// Instance labels volumes this hub creates.
	Instance string
	// VolumeOwner ("uid:gid") owns a home volume created here.
	VolumeOwner string
	// NotebookDir is where the home volume appears in servers; absolute
	// paths under it are accepted.
	NotebookDir string
	// MaxBytes and MaxFiles bound one hand-in; zero means 100 MiB and 1000.
	MaxBytes int64
	MaxFiles int
	// TempDir holds archives while they are checked; "" means the system's.
	TempDir string
	Now     func() time.Time
	Logger  *slog.Logger
}

// Service takes and reads hand-ins.
type Service struct {
	db   *store.DB
	opts Options
}

// New returns a Service.
func New(db *store.DB, opts Options) *Service {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 100 << 20
	}
	if opts.MaxFiles <= 0 {
		opts.MaxFiles = 1000
	}
	if opts.NotebookDir == "" {
		opts.NotebookDir = "/home/jovyan"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{db: db, opts: opts}
}

// Error is a hand-in that cannot be taken; its message is meant for the
// student.
type Error struct {
	Msg string
	// Closed reports that the activity no longer takes hand-ins.
	Closed bool
}

func (e *Error) Error() string { return e.Msg }

// ErrNotFound is returned for a hand-in or file that does not exist.
var ErrNotFound = errors.New("hand-in not found")

// Request says what a student hands in.
type Request struct {
	User     store.User
	Course   store.Course
	Activity store.Activity
	// Paths are files or folders in the student's home folder, relative to
	// it or absolute under the notebook directory.
	Paths []string
	// Source says how it was handed in (page, api).
	Source string
}

// maxPaths bounds the paths of one hand-in.
const maxPaths = 20

// Mount points of the helper containers.
const (
	homeMount   = "/labhub-home"
	handinMount = "/labhub-handins"
)

// Locked reports whether an activity's hand-ins are closed at now.
func Locked(a store.Assignment, now time.Time) bool {
	return a.LockAtDue && a.DueAt != nil && now.After(*a.DueAt)
}

// HandIn copies the requested files into the course's hand-in volume and
// records the hand-in.
func (s *Service) HandIn(ctx context.Context, r Request) (*store.Handin, error) {
	paths, err := s.cleanPaths(r.Paths)
	if err != nil {
		return nil, err
	}
	a, err := s.assignment(ctx, r.Activity)
	if err != nil {
		return nil, err
	}
	now := s.opts.Now().UTC()
	if Locked(a, now) {
		return nil, &Error{Msg: fmt.Sprintf("Hand-ins for this activity closed at %s.",
			a.DueAt.UTC().Format("2006-01-02 15:04 UTC")), Closed: true}
	}
	image, err := s.image(ctx, r.Course)
	if err != nil {
		return nil, err
	}
	home, err := s.opts.Names.Home(r.User.Name, r.Course.Slug)
	if err != nil {
		return nil, &Error{Msg: "Your user name cannot name a home volume under this Labhub's volume settings. Tell an administrator."}
	}
	labels := map[string]string{course.LabelInstance: s.opts.Instance, course.LabelUser: r.User.Name,
		course.LabelCourse: r.Course.Slug}
	if _, err := s.opts.Files.EnsureVolume(ctx, home, labels, s.opts.VolumeOwner, image); err != nil {
		return nil, fmt.Errorf("prepare home volume: %w", err)
	}
	vol := s.opts.Names.Handins(r.Course.Slug)
	courseLabels := map[string]string{course.LabelInstance: s.opts.Instance, course.LabelCourse: r.Course.Slug}
	if _, err := s.opts.Files.EnsureVolume(ctx, vol, courseLabels, "", image); err != nil {
		return nil, fmt.Errorf("prepare hand-in volume: %w", err)
	}

	tmp, err := os.CreateTemp(s.opts.TempDir, "labhub-handin-*.tar")
	if err != nil {
		return nil, fmt.Errorf("create temporary archive: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	// TODO: a crash of the hub between here and the end of WriteTar leaves
	// the row in state copying (never listed) and perhaps part of the files
	// at its path in the volume. No later hand-in uses that path, but
	// nothing removes the row or the files yet.
	h, err := s.reserve(ctx, r, a, paths, now)
	if err != nil {
		return nil, err
	}
	mounts := []spawner.Mount{{Volume: vol, Target: handinMount}}
	files, size, err := s.collect(ctx, image, home, h.Path, paths, tmp)
	if err == nil {
		if _, err = tmp.Seek(0, io.SeekStart); err == nil {
			err = s.opts.Files.WriteTar(ctx, image, mounts, handinMount, tmp)
			if err != nil {
				s.removePartial(ctx, image, mounts, h)
			}
		}
	}
	if err != nil {
		if derr := s.db.WithContext(context.WithoutCancel(ctx)).Delete(&store.Handin{}, h.ID).Error; derr != nil {
			s.opts.Logger.Error("failed to drop unfinished hand-in", "handin_id", h.ID, "error", derr)
		}
		return nil, err
	}
	h.State, h.Files, h.Bytes = store.HandinDone, files, size
	if err := s.db.WithContext(ctx).Model(&store.Handin{}).Where("id = ?", h.ID).
		Updates(map[string]any{"state": h.State, "files": files, "bytes": size}).Error; err != nil {
		return nil, fmt.Errorf("record hand-in: %w", err)
	}
	s.opts.Logger.Info("took hand-in", "handin_id", h.ID, "user", r.User.Name, "course", r.Course.Slug,
		"activity_id", r.Activity.ID, "files", files, "bytes", size, "source", r.Source)
	return h, nil
}

// removePartial removes, as well as it can, what a failed copy of h left in
// the hand-in volume.
func (s *Service) removePartial(ctx context.Context, image string, mounts []spawner.Mount, h *store.Handin) {
	err := s.opts.Files.RemoveTree(context.WithoutCancel(ctx), image, mounts, path.Join(handinMount, h.Path))
	if err != nil {
		s.opts.Logger.Warn("failed to remove unfinished hand-in files", "handin_id", h.ID, "path", h.Path,
			"error", err)
	}
}

// cleanPaths turns the requested paths into clean paths relative to the
// home folder, without duplicates or paths inside others.
func (s *Service) cleanPaths(in []string) ([]string, error) {
	var out []string
	for _, p := range in {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if path.IsAbs(p) {
			root := path.Clean(s.opts.NotebookDir)
			rel, ok := strings.CutPrefix(path.Clean(p), root+"/")
			if path.Clean(p) == root {
				rel, ok = ".", true
			}
			if !ok {
				return nil, &Error{Msg: fmt.Sprintf("%s is not in your home folder (%s).", p, s.opts.NotebookDir)}
			}
			p = rel
		}
		p = path.Clean(p)
		if p == "." || p == ".." || strings.HasPrefix(p, "../") {
			return nil, &Error{Msg: fmt.Sprintf("%s is not a file or folder inside your home folder.", p)}
		}
		if strings.ContainsAny(p, "\x00\n\r") {
			return nil, &Error{Msg: "A path contains characters a file name cannot have."}
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, &Error{Msg: "Choose at least one file or folder to hand in."}
	}
	if len(out) > maxPaths {
		return nil, &Error{Msg: fmt.Sprintf("Hand in at most %d files or folders at once; hand in the folder that holds them.", maxPaths)}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	// A path inside another one that is handed in anyway goes.
	kept := out[:0]
	for _, p := range out {
		if len(kept) > 0 && strings.HasPrefix(p, kept[len(kept)-1]+"/") {
			continue
		}
		kept = append(kept, p)
	}
	return kept, nil
}

// assignment returns the activity's assignment, creating it and its
// hand-in directory name on first use.
func (s *Service) assignment(ctx context.Context, act store.Activity) (store.Assignment, error) {
	db := s.db.WithContext(ctx)
	dir := course.Slug(act.Title)
	if dir == "course" && act.Title == "" {
		dir = "activity"
	}
	dir += "-" + strconv.FormatUint(uint64(act.ID), 10)
	now := s.opts.Now().UTC()
	a := store.Assignment{ActivityID: act.ID, ScoreMaximum: 100, HandinDir: dir, CreatedAt: now, UpdatedAt: now}
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&a).Error; err != nil {
		return a, fmt.Errorf("create assignment: %w", err)
	}
	// An assignment made for grading has no directory yet; the first
	// hand-in names it, once.
	if err := db.Model(&store.Assignment{}).Where("activity_id = ? AND handin_dir = ?", act.ID, "").
		Update("handin_dir", dir).Error; err != nil {
		return a, fmt.Errorf("name hand-in directory: %w", err)
	}
	if err := db.Where("activity_id = ?", act.ID).First(&a).Error; err != nil {
		return a, fmt.Errorf("load assignment: %w", err)
	}
	return a, nil
}

// reserve records a hand-in being copied, at a path no hand-in ever had:
// <dir>/<user>/<time>-<random>. The random part keeps apart hand-ins of
// one second, including one whose failed copy's row is gone, and hand-ins
// made after a database was restored from a backup.
func (s *Service) reserve(ctx context.Context, r Request, a store.Assignment, paths []string,
	now time.Time) (*store.Handin, error) {
	base := path.Join(a.HandinDir, spawner.Escape(r.User.Name), now.Format("20060102T150405Z"))
	for range 10 {
		p := base + "-" + randomSuffix()
		h := &store.Handin{ActivityID: r.Activity.ID, UserID: r.User.ID, Path: p, State: store.HandinCopying,
			Source: r.Source, Paths: strings.Join(paths, "\n"), CreatedAt: now}
		err := s.db.WithContext(ctx).Create(h).Error
		if err == nil {
			return h, nil
		}
		if !store.IsUniqueViolation(err) {
			return nil, fmt.Errorf("record hand-in: %w", err)
		}
	}
	return nil, fmt.Errorf("record hand-in: no free path at %s", base)
}

// randomSuffix returns 8 random hexadecimal digits.
func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read never fails.
	return hex.EncodeToString(b)
}

// collect writes the archive of the chosen paths, under prefix, to w and
// returns the number of files and their bytes.
func (s *Service) collect(ctx context.Context, image, home, prefix string, paths []string, w io.Writer) (int, int64, error) {
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	addDir := func(name string, mod time.Time) error {
		if dirs[name] {
			return nil
		}
		dirs[name] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o555, ModTime: mod,
			Format: tar.FormatPAX})
	}
	now := s.opts.Now().UTC()
	// The directories leading to the hand-in, so that extraction creates
	// them read-only too.
	for i, parts := 1, strings.Split(prefix, "/"); i <= len(parts); i++ {
		if err := addDir(strings.Join(parts[:i], "/"), now); err != nil {
			return 0, 0, fmt.Errorf("write archive: %w", err)
		}
	}
	files, size := 0, int64(0)
	mounts := []spawner.Mount{{Volume: home, Target: homeMount, ReadOnly: true}}
	for _, p := range paths {
		parent := path.Dir(p)
		if parent != "." {
			parts := strings.Split(parent, "/")
			for i := 1; i <= len(parts); i++ {
				if err := addDir(prefix+"/"+strings.Join(parts[:i], "/"), now); err != nil {
					return 0, 0, fmt.Errorf("write archive: %w", err)
				}
			}
		}
		rc, err := s.opts.Files.ReadTar(ctx, image, mounts, homeMount+"/"+p)
		if errors.Is(err, spawner.ErrNotFound) {
			return 0, 0, &Error{Msg: fmt.Sprintf("There is no %s in your home folder.", p)}
		}
		if err != nil {
			return 0, 0, fmt.Errorf("read %s: %w", p, err)
		}
		n, b, err := s.copyEntries(tr(rc), tw, prefix, parent, addDir, files, size)
		rc.Close()
		if err != nil {
			return 0, 0, err
		}
		files, size = n, b
	}
	if files == 0 {
		return 0, 0, &Error{Msg: "There are no files in what you chose."}
	}
	if err := tw.Close(); err != nil {
		return 0, 0, fmt.Errorf("write archive: %w", err)
	}
	return files, size, nil
}

func tr(r io.Reader) *tar.Reader { return tar.NewReader(r) }

// copyEntries copies the regular files and directories of one path's tar
// stream into tw, read-only and owned by root, counting against the
// limits. Links, devices and notebook checkpoints are left out.
func (s *Service) copyEntries(in *tar.Reader, tw *tar.Writer, prefix, parent string,
	addDir func(string, time.Time) error, files int, size int64) (int, int64, error) {
	for {
		h, err := in.Next()
		if errors.Is(err, io.EOF) {
			return files, size, nil
		}
		if err != nil {
			return 0, 0, fmt.Errorf("read files: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "." || name == ".." || strings.HasPrefix(name, "../") || path.IsAbs(name) {
			continue
		}
		if slices.Contains(strings.Split(name, "/"), ".ipynb_checkpoints") {
			continue
		}
		if parent != "." {
			name = parent + "/" + name
		}
		full := prefix + "/" + name
		switch h.Typeflag {
		case tar.TypeDir:
			if err := addDir(full, h.ModTime); err != nil {
				return 0, 0, fmt.Errorf("write archive: %w", err)
			}
		case tar.TypeReg:
			files++
			size += h.Size
			if files > s.opts.MaxFiles {
				return 0, 0, &Error{Msg: fmt.Sprintf("A hand-in may hold at most %d files.", s.opts.MaxFiles)}
			}
			if size > s.opts.MaxBytes {
				return 0, 0, &Error{Msg: fmt.Sprintf("A hand-in may hold at most %s.", formatBytes(s.opts.MaxBytes))}
			}
			err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: full, Size: h.Size, Mode: 0o444,
				ModTime: h.ModTime, Format: tar.FormatPAX})
			if err == nil {
				_, err = io.Copy(tw, in)
			}
			if err != nil {
				return 0, 0, fmt.Errorf("write archive: %w", err)
			}
		}
	}
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// List returns the finished hand-ins of an activity, of one user when
// userID is not 0, oldest first.
func (s *Service) List(ctx context.Context, activityID, userID uint) ([]store.Handin, error) {
	q := s.db.WithContext(ctx).Where("activity_id = ? AND state = ?", activityID, store.HandinDone)
	if userID != 0 {
		q = q.Where("user_id = ?", userID)
	}
	var out []store.Handin
	if err := q.Order("created_at, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list hand-ins: %w", err)
	}
	return out, nil
}

// Get returns a finished hand-in of an activity.
func (s *Service) Get(ctx context.Context, activityID, id uint) (*store.Handin, error) {
	var h store.Handin
	err := s.db.WithContext(ctx).Where("id = ? AND activity_id = ? AND state = ?", id, activityID, store.HandinDone).
		First(&h).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load hand-in: %w", err)
	}
	return &h, nil
}

// File is a file or folder of a hand-in.
type File struct {
	// Path is relative to the hand-in.
	Path    string
	Dir     bool
	Size    int64
	ModTime time.Time
}

// Files lists the contents of a hand-in of a course.
func (s *Service) Files(ctx context.Context, c store.Course, h store.Handin) ([]File, error) {
	rc, err := s.read(ctx, c, h.Path)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	root := path.Base(h.Path)
	var out []File
	in := tar.NewReader(rc)
	for {
		hd, err := in.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read hand-in: %w", err)
		}
		rel, ok := strings.CutPrefix(path.Clean(hd.Name), root+"/")
		if !ok {
			continue
		}
		out = append(out, File{Path: rel, Dir: hd.Typeflag == tar.TypeDir, Size: hd.Size, ModTime: hd.ModTime})
	}
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// Open returns the content of one file of a hand-in and its size.
func (s *Service) Open(ctx context.Context, c store.Course, h store.Handin, rel string) (io.ReadCloser, int64, error) {
	rel = path.Clean(rel)
	if rel == "." || rel == ".." || strings.HasPrefix(rel, "../") || path.IsAbs(rel) {
		return nil, 0, ErrNotFound
	}
	rc, err := s.read(ctx, c, h.Path+"/"+rel)
	if err != nil {
		return nil, 0, err
	}
	in := tar.NewReader(rc)
	hd, err := in.Next()
	if err != nil || hd.Typeflag != tar.TypeReg {
		rc.Close()
		return nil, 0, ErrNotFound
	}
	return struct {
		io.Reader
		io.Closer
	}{in, rc}, hd.Size, nil
}

// image returns the image of course c's helper containers.
func (s *Service) image(ctx context.Context, c store.Course) (string, error) {
	if s.opts.HelperImage != nil {
		return s.opts.HelperImage(ctx, c)
	}
	return s.opts.Image, nil
}

// read returns the tar stream of a path in a course's hand-in volume.
func (s *Service) read(ctx context.Context, c store.Course, p string) (io.ReadCloser, error) {
	image, err := s.image(ctx, c)
	if err != nil {
		return nil, err
	}
	vol := s.opts.Names.Handins(c.Slug)
	rc, err := s.opts.Files.ReadTar(ctx, image, []spawner.Mount{{Volume: vol, Target: handinMount,
		ReadOnly: true}}, handinMount+"/"+p)
	if errors.Is(err, spawner.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read hand-in volume: %w", err)
	}
	return rc, nil
}
