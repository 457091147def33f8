package course

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/store"
)

// Engine is what the manager needs from the container engine beyond
// [Docker] to give courses their own environment: image pulls, networks,
// file access to volumes, memory use and out-of-memory reports.
// *spawner.Docker implements it; a Docker that does not leaves those
// features unavailable with an error saying so.
type Engine interface {
	Pull(ctx context.Context, ref string, progress func(spawner.PullProgress)) error
	EnsureNetworkWith(ctx context.Context, name string, opts spawner.NetworkOptions) error
	RemoveNetwork(ctx context.Context, name string) error
	RemoveVolume(ctx context.Context, name string) error
	ReadTar(ctx context.Context, image string, mounts []spawner.Mount, path string) (io.ReadCloser, error)
	WriteTar(ctx context.Context, image string, mounts []spawner.Mount, dir string, r io.Reader) error
	MemoryUsage(ctx context.Context, id string) (uint64, error)
	WatchOOM(ctx context.Context, match map[string]string, fn func(spawner.OOMEvent)) error
}

// errNoEngine is returned when the Docker given to the manager cannot do
// what a course environment feature needs.
var errNoEngine = errors.New("the container engine does not support this")

// engine returns the manager's Docker as an Engine.
func (m *Manager) engine() (Engine, error) {
	e, ok := m.docker.(Engine)
	if !ok {
		return nil, errNoEngine
	}
	return e, nil
}

// extras is the manager's state for course environments.
type extras struct {
	// pullMu protects pulls.
	pullMu sync.Mutex
	pulls  map[string]*pullJob

	// helpOnce loads guarded from the database at first use; helpMu
	// protects guarded and guardAll.
	helpOnce sync.Once
	helpMu   sync.Mutex
	guarded  map[string]time.Time
	guardAll bool
}

func newExtras() *extras {
	return &extras{pulls: map[string]*pullJob{}, guarded: map[string]time.Time{}}
}

// plan is what a start runs: the image and where it came from, and the
// launched activity.
type plan struct {
	image string
	// imageErr, when set, fails the start with its message.
	imageErr error
	// catalog is the catalog entry of image, nil for a site default that is
	// not in the catalog.
	catalog *store.Image
	// fromActivity reports whether the activity chose the image.
	fromActivity bool
	activity     *store.Activity
}

// ErrNoImage is the reason a course cannot start servers yet: nobody chose
// its image and the site has no default.
var ErrNoImage = errors.New("the course has no image yet")

// planFor returns what a server of course c launched from activity a runs:
// the activity's image from the catalog, else the course's, else the site
// default.
func (m *Manager) planFor(ctx context.Context, c store.Course, a *store.Activity) plan {
	p := plan{activity: a}
	db := m.db.WithContext(ctx)
	if a != nil && a.Image != "" {
		var img store.Image
		err := db.Where("name = ?", ImageName(a.Image)).First(&img).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			p.imageErr = &userError{fmt.Sprintf("The image %q chosen for this activity is not in Labhub's catalog. Ask your teacher to pick another one.", a.Image)}
		case err != nil:
			p.imageErr = fmt.Errorf("load activity image: %w", err)
		default:
			p.image, p.catalog, p.fromActivity = img.Ref, &img, true
		}
		return p
	}
	if c.ImageID != nil {
		var img store.Image
		err := db.First(&img, *c.ImageID).Error
		if err == nil {
			p.image, p.catalog = img.Ref, &img
			return p
		}
		if !errors.Is(err, gorm.ErrRecordNotFound) {
			p.imageErr = fmt.Errorf("load course image: %w", err)
			return p
		}
	}
	if m.opts.DefaultImage == "" {
		p.imageErr = ErrNoImage
		return p
	}
	p.image = m.opts.DefaultImage
	p.catalog = m.defaultInCatalog(ctx)
	return p
}

// defaultInCatalog returns the catalog entry of the site's default image,
// whose limits then apply to courses that use the default, or nil.
func (m *Manager) defaultInCatalog(ctx context.Context) *store.Image {
	var img store.Image
	if m.opts.DefaultImage == "" ||
		m.db.WithContext(ctx).Where("ref = ?", m.opts.DefaultImage).Order("id").First(&img).Error != nil {
		return nil
	}
	return &img
}

// Limits are the resources of one server; zero means no limit.
type Limits struct {
	// Mem is memory in bytes.
	Mem int64
	// NanoCPUs is CPU time in billionths of a core.
	NanoCPUs int64
	// Pids bounds processes and threads.
	Pids int64
}

// Bounds are the defaults and maxima an instructor chooses within.
type Bounds struct {
	MemDefault, MemMax int64
	CPUDefault, CPUMax int64
}

// boundsFor returns the limits a course running img may choose from: the
// image's own, else the site's. A maximum is never below its default; zero
// means unbounded.
func (m *Manager) boundsFor(img *store.Image) Bounds {
	b := Bounds{MemDefault: m.opts.MemLimit, MemMax: m.opts.MemLimit,
		CPUDefault: m.opts.NanoCPUs, CPUMax: m.opts.NanoCPUs}
	if img != nil {
		if img.MemDefault > 0 {
			b.MemDefault = img.MemDefault
		}
		if img.MemMax > 0 {
			b.MemMax = img.MemMax
		}
		if img.CPUDefault > 0 {
			b.CPUDefault = img.CPUDefault
		}
		if img.CPUMax > 0 {
			b.CPUMax = img.CPUMax
		}
	}
	if b.MemMax > 0 && b.MemDefault > b.MemMax {
		b.MemMax = b.MemDefault
	}
	if b.CPUMax > 0 && b.CPUDefault > b.CPUMax {
		b.CPUMax = b.CPUDefault
	}
	return b
}

// limitsFor returns the limits of a server of course c running img: the
// course's choice within the bounds, else the default.
func (m *Manager) limitsFor(c store.Course, img *store.Image) Limits {
	b := m.boundsFor(img)
	l := Limits{Mem: b.MemDefault, NanoCPUs: b.CPUDefault, Pids: m.opts.PidsLimit}
	if c.MemLimit > 0 {
		l.Mem = c.MemLimit
		if b.MemMax > 0 {
			l.Mem = min(l.Mem, b.MemMax)
		}
	}
	if c.NanoCPUs > 0 {
		l.NanoCPUs = c.NanoCPUs
		if b.CPUMax > 0 {
			l.NanoCPUs = min(l.NanoCPUs, b.CPUMax)
		}
	}
	return l
}

// idleFor returns how long a server of a course with the given idle
// setting (seconds; see store.Course.IdleTimeout) may be idle; zero never
// stops it.
func (m *Manager) idleFor(courseIdle int64) time.Duration {
	switch {
	case courseIdle < 0:
		return 0
	case courseIdle > 0:
		return time.Duration(courseIdle) * time.Second
	}
	return m.opts.IdleTimeout
}

// CourseNetworkName is the Docker network on which a course's servers reach
// each other.
func (m *Manager) CourseNetworkName(slug string) string {
	return m.opts.Network + "-course-" + spawner.Escape(slug)
}

// OutsideNetworkName is the Docker network that gives servers a route out
// of the host.
func (m *Manager) OutsideNetworkName() string { return m.opts.Network + "-outside" }

// networksFor makes sure the networks a server of course c joins besides
// the hub's exist and returns them.
func (m *Manager) networksFor(ctx context.Context, f *feed, c store.Course) ([]string, error) {
	policy := c.Network
	if policy == store.NetworkOutside && !m.opts.AllowOutside {
		// The administrator withdrew the permission since the choice.
		f.publish(Event{Progress: 18, Message: "Access outside Labhub is not permitted on this site; your server reaches only Labhub"})
		policy = store.NetworkHubOnly
	}
	var name string
	var opts spawner.NetworkOptions
	switch policy {
	case store.NetworkCourse:
		name = m.CourseNetworkName(c.Slug)
		opts = spawner.NetworkOptions{Peers: true, Labels: map[string]string{LabelInstance: m.opts.Instance, LabelCourse: c.Slug}}
	case store.NetworkOutside:
		name = m.OutsideNetworkName()
		opts = spawner.NetworkOptions{Outside: true, Labels: map[string]string{LabelInstance: m.opts.Instance}}
	default:
		return nil, nil
	}
	e, err := m.engine()
	if err != nil {
		return nil, fmt.Errorf("prepare network %s: %w", name, err)
	}
	if err := e.EnsureNetworkWith(ctx, name, opts); err != nil {
		return nil, fmt.Errorf("prepare network: %w", err)
	}
	return []string{name}, nil
}

// setLimitEnv tells the server its limits the way DockerSpawner does, so
// tools such as jupyter-resource-usage can show them.
func setLimitEnv(env map[string]string, l Limits) {
	delete(env, "MEM_LIMIT")
	delete(env, "CPU_LIMIT")
	if l.Mem > 0 {
		env["MEM_LIMIT"] = strconv.FormatInt(l.Mem, 10)
	}
	if l.NanoCPUs > 0 {
		env["CPU_LIMIT"] = strconv.FormatFloat(float64(l.NanoCPUs)/1e9, 'f', -1, 64)
	}
}

// courseImageChangedSince reports whether the server started before the
// course's image was last chosen and runs the course's image rather than
// an activity's: such a server keeps its image until its next start.
func courseImageChangedSince(c store.Course, p plan, started *time.Time) bool {
	return !p.fromActivity && c.ImageChosenAt != nil && started != nil && c.ImageChosenAt.After(*started)
}

// waitingReason says why a server of course c cannot start for someone in
// role, or "" when it can.
func waitingReason(c store.Course, role string, p plan) string {
	switch {
	case c.EndedAt != nil && !IsTeacher(role):
		return "This course has ended, so its notebook servers no longer start. Ask your teacher if you need your files."
	case errors.Is(p.imageErr, ErrNoImage):
		if IsTeacher(role) {
			return "Choose the image of this course on its page first."
		}
		return "Your teacher has not yet chosen the software environment of this course. Try again later; this page does not change by itself."
	}
	return ""
}
