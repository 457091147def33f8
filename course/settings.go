package course

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/labhub/labhub/store"
)

// Settings are what an instructor chooses for a course's environment.
type Settings struct {
	// ImageID is the catalog image; nil means the site default.
	ImageID *uint
	// MemLimit (bytes) and NanoCPUs: zero means the image's default.
	MemLimit, NanoCPUs int64
	// IdleTimeout: zero means the site's, negative never stops idle
	// servers.
	IdleTimeout time.Duration
	// Network is store.NetworkHubOnly, NetworkCourse or NetworkOutside.
	Network string
}

// Environment is a course's environment as its page shows it.
type Environment struct {
	Course store.Course
	// Image is the course's catalog image, nil for the site default.
	Image *store.Image
	// Ref is the image reference servers start from, "" when there is none
	// yet.
	Ref string
	// Chosen reports whether an instructor has chosen the image.
	Chosen bool
	// Bounds are the limits the image allows, Limits those in effect.
	Bounds Bounds
	Limits Limits
	// Idle is the idle timeout in effect; zero never stops servers.
	Idle time.Duration
}

// Environment returns the environment of course c.
func (m *Manager) Environment(ctx context.Context, c store.Course) (Environment, error) {
	env := Environment{Course: c, Chosen: c.ImageChosenAt != nil}
	p := m.planFor(ctx, c, nil)
	if p.imageErr != nil && !errors.Is(p.imageErr, ErrNoImage) {
		return env, p.imageErr
	}
	env.Ref = p.image
	if c.ImageID != nil && p.catalog != nil && p.catalog.ID == *c.ImageID {
		env.Image = p.catalog
	}
	env.Bounds = m.boundsFor(p.catalog)
	env.Limits = m.limitsFor(c, p.catalog)
	env.Idle = m.idleFor(c.IdleTimeout)
	return env, nil
}

// NeedsImageChoice reports whether an instructor launching activity a of
// course c should choose the course's image first: nobody has, the activity
// does not name one, and the catalog offers a choice.
func (m *Manager) NeedsImageChoice(ctx context.Context, c store.Course, a *store.Activity) (bool, error) {
	if c.ImageChosenAt != nil || (a != nil && a.Image != "") {
		return false, nil
	}
	n, err := m.CatalogSize(ctx)
	if err != nil {
		return false, err
	}
	return n > 0, nil
}

// SaveSettings checks the settings against the administrator's bounds and
// stores them as course c's; they apply at each server's next start.
func (m *Manager) SaveSettings(ctx context.Context, actor store.User, c *store.Course, s Settings) error {
	var img *store.Image
	if s.ImageID != nil {
		var i store.Image
		err := m.db.WithContext(ctx).First(&i, *s.ImageID).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return &InputError{Msg: "That image is no longer in the catalog; pick another one."}
		}
		if err != nil {
			return fmt.Errorf("load image: %w", err)
		}
		img = &i
	} else if m.opts.DefaultImage == "" {
		return &InputError{Msg: "This site has no default image; pick one from the catalog."}
	} else {
		img = m.defaultInCatalog(ctx)
	}
	b := m.boundsFor(img)
	var errs []string
	if s.MemLimit < 0 || s.NanoCPUs < 0 {
		errs = append(errs, "limits must not be negative")
	}
	if s.MemLimit > 0 && b.MemMax > 0 && s.MemLimit > b.MemMax {
		errs = append(errs, fmt.Sprintf("memory may be at most %s for this image", FormatBytes(b.MemMax)))
	}
	if s.MemLimit > 0 && s.MemLimit < 64<<20 {
		errs = append(errs, "memory must be at least 64M: a notebook server cannot start in less")
	}
	if s.NanoCPUs > 0 && b.CPUMax > 0 && s.NanoCPUs > b.CPUMax {
		errs = append(errs, fmt.Sprintf("CPU may be at most %s cores for this image", FormatCPU(b.CPUMax)))
	}
	switch s.Network {
	case "":
		s.Network = store.NetworkHubOnly
	case store.NetworkHubOnly, store.NetworkCourse:
	case store.NetworkOutside:
		if !m.opts.AllowOutside {
			errs = append(errs, "access outside Labhub is not permitted on this site")
		}
	default:
		errs = append(errs, "unknown network policy")
	}
	if s.IdleTimeout > 0 && s.IdleTimeout < 5*time.Minute {
		errs = append(errs, "the idle timeout must be at least 5 minutes")
	}
	if s.IdleTimeout > 7*24*time.Hour {
		errs = append(errs, "the idle timeout may be at most 7 days")
	}
	if len(errs) > 0 {
		return &InputError{Msg: capitalize(strings.Join(errs, "; ")) + "."}
	}
	idle := int64(s.IdleTimeout / time.Second)
	if s.IdleTimeout < 0 {
		idle = -1
	}
	now := m.opts.Now().UTC()
	updates := map[string]any{"image_id": s.ImageID, "image_chosen_at": now, "mem_limit": s.MemLimit,
		"nano_cpus": s.NanoCPUs, "idle_timeout": idle, "network": s.Network}
	if err := m.db.WithContext(ctx).Model(c).Updates(updates).Error; err != nil {
		return fmt.Errorf("save course settings: %w", err)
	}
	if err := m.db.WithContext(ctx).First(c, c.ID).Error; err != nil {
		return fmt.Errorf("reload course: %w", err)
	}
	ref := m.opts.DefaultImage + " (site default)"
	if img != nil {
		ref = img.Name
	}
	m.Audit(ctx, actor, "course.settings", c, "", fmt.Sprintf("image %s, memory %s, cpu %s, idle %s, network %s",
		ref, FormatBytes(s.MemLimit), FormatCPU(s.NanoCPUs), describeIdle(s.IdleTimeout), s.Network))
	return nil
}

// describeIdle writes an idle timeout setting for people.
func describeIdle(d time.Duration) string {
	switch {
	case d < 0:
		return "never"
	case d == 0:
		return "site default"
	}
	return d.String()
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// FormatBytes writes a size the way settings take it ("512M", "2G"); zero
// is "default".
func FormatBytes(n int64) string {
	switch {
	case n == 0:
		return "default"
	case n%(1<<30) == 0:
		return fmt.Sprintf("%dG", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%dM", n>>20)
	}
	return fmt.Sprintf("%d", n)
}

// FormatCPU writes billionths of a core as cores; zero is "default".
func FormatCPU(n int64) string {
	if n == 0 {
		return "default"
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", float64(n)/1e9), "0"), ".")
}
