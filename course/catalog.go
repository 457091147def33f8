package course

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/labhub/labhub/store"
)

// ImageInput is an entry of the image catalog as an administrator writes it.
type ImageInput struct {
	Name        string
	Ref         string
	Description string
	// Limits: memory in bytes, CPU in billionths of a core; zero means the
	// site's setting.
	MemDefault, MemMax int64
	CPUDefault, CPUMax int64
}

// imageNameRE is what catalog names look like: they appear in LMS custom
// parameters (labhub_image=...).
var imageNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,99}$`)

// refRE is a loose check of an image reference; the engine has the final
// word when it pulls.
var refRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._:/@-]{0,499}$`)

// Validate checks an entry and returns a message for the person who wrote
// it, or nil.
func (in *ImageInput) Validate() error {
	in.Name = ImageName(in.Name)
	in.Ref = strings.TrimSpace(in.Ref)
	in.Description = strings.TrimSpace(in.Description)
	var errs []string
	if !imageNameRE.MatchString(in.Name) {
		errs = append(errs, "the name must be lower-case letters, digits, '.', '_' or '-' (such as scipy-2024)")
	}
	if !refRE.MatchString(in.Ref) {
		errs = append(errs, "the reference must be an image such as quay.io/jupyter/scipy-notebook:2024-12-02")
	}
	if len(in.Description) > 2000 {
		errs = append(errs, "the description must be at most 2000 characters")
	}
	if in.MemDefault < 0 || in.MemMax < 0 || in.CPUDefault < 0 || in.CPUMax < 0 {
		errs = append(errs, "limits must not be negative")
	}
	if in.MemMax > 0 && in.MemDefault > in.MemMax {
		errs = append(errs, "the default memory must not exceed the maximum")
	}
	if in.CPUMax > 0 && in.CPUDefault > in.CPUMax {
		errs = append(errs, "the default CPU must not exceed the maximum")
	}
	for _, v := range []int64{in.MemDefault, in.MemMax} {
		if v != 0 && v < 64<<20 {
			errs = append(errs, "memory limits must be at least 64M: a notebook server cannot start in less")
			break
		}
	}
	if len(errs) > 0 {
		return &InputError{Msg: strings.Join(errs, "; ")}
	}
	return nil
}

// InputError is a request that cannot be carried out as asked; its message
// is meant for the person who asked.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

// PutImage adds an entry to the catalog, or changes the entry of that name.
func (m *Manager) PutImage(ctx context.Context, in ImageInput) (store.Image, error) {
	if err := in.Validate(); err != nil {
		return store.Image{}, err
	}
	img := store.Image{Name: in.Name}
	vals := store.Image{Ref: in.Ref, Description: in.Description, MemDefault: in.MemDefault, MemMax: in.MemMax,
		CPUDefault: in.CPUDefault, CPUMax: in.CPUMax}
	db := m.db.WithContext(ctx)
	err := db.Where("name = ?", in.Name).Assign(map[string]any{"ref": vals.Ref, "description": vals.Description,
		"mem_default": vals.MemDefault, "mem_max": vals.MemMax, "cpu_default": vals.CPUDefault, "cpu_max": vals.CPUMax}).
		FirstOrCreate(&img).Error
	if err != nil {
		return store.Image{}, fmt.Errorf("save image %s: %w", in.Name, err)
	}
	return img, nil
}

// ErrImageInUse is returned when a catalog entry to be removed is a course's
// image.
var ErrImageInUse = errors.New("image in use")

// DeleteImage removes the catalog entry name. An entry that a course uses
// stays; the error says which courses.
func (m *Manager) DeleteImage(ctx context.Context, name string) error {
	name = ImageName(name)
	db := m.db.WithContext(ctx)
	var img store.Image
	if err := db.Where("name = ?", name).First(&img).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return store.ErrNotFound
		}
		return fmt.Errorf("load image: %w", err)
	}
	var slugs []string
	if err := db.Model(&store.Course{}).Where("image_id = ?", img.ID).Order("slug").Pluck("slug", &slugs).Error; err != nil {
		return fmt.Errorf("check image use: %w", err)
	}
	if len(slugs) > 0 {
		return fmt.Errorf("%w: courses %s use %s; they must choose another image first", ErrImageInUse,
			strings.Join(slugs, ", "), name)
	}
	if err := db.Delete(&img).Error; err != nil {
		return fmt.Errorf("delete image: %w", err)
	}
	return nil
}

// CatalogImage is a catalog entry with its state on the engine.
type CatalogImage struct {
	store.Image
	// Present reports whether the engine has the image.
	Present bool
	// Pulling is the pull under way, if Pull is set.
	Pull    PullStatus
	Pulling bool
	// Courses counts the courses that chose the image.
	Courses int
}

// Catalog lists the image catalog by name, with each image's presence on
// the engine and any pull under way.
func (m *Manager) Catalog(ctx context.Context) ([]CatalogImage, error) {
	var imgs []store.Image
	if err := m.db.WithContext(ctx).Order("name").Find(&imgs).Error; err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var counts []struct {
		ImageID uint
		N       int
	}
	if err := m.db.WithContext(ctx).Model(&store.Course{}).Select("image_id, COUNT(*) AS n").
		Where("image_id IS NOT NULL").Group("image_id").Scan(&counts).Error; err != nil {
		return nil, fmt.Errorf("count image use: %w", err)
	}
	use := map[uint]int{}
	for _, c := range counts {
		use[c.ImageID] = c.N
	}
	out := make([]CatalogImage, 0, len(imgs))
	for _, img := range imgs {
		ci := CatalogImage{Image: img, Courses: use[img.ID]}
		present, err := m.docker.ImagePresent(ctx, img.Ref)
		if err != nil {
			return nil, err
		}
		ci.Present = present
		ci.Pull, ci.Pulling = m.PullStatus(img.Ref)
		out = append(out, ci)
	}
	return out, nil
}

// ImageName returns the canonical form of a catalog image name, the form
// it is stored and looked up in: lower case, without surrounding space.
func ImageName(name string) string {
	return strings.ToLower(strings.TrimSpace(name))
}

// LookupImage returns the catalog entry name (in any case), or
// store.ErrNotFound.
func (m *Manager) LookupImage(ctx context.Context, name string) (store.Image, error) {
	var img store.Image
	err := m.db.WithContext(ctx).Where("name = ?", ImageName(name)).First(&img).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return store.Image{}, store.ErrNotFound
	}
	if err != nil {
		return store.Image{}, fmt.Errorf("load image: %w", err)
	}
	return img, nil
}

// Image returns the catalog entry name with whether the engine has it.
func (m *Manager) Image(ctx context.Context, name string) (CatalogImage, error) {
	img, err := m.LookupImage(ctx, name)
	if err != nil {
		return CatalogImage{}, err
	}
	ci := CatalogImage{Image: img}
	if ci.Present, err = m.docker.ImagePresent(ctx, img.Ref); err != nil {
		return CatalogImage{}, err
	}
	ci.Pull, ci.Pulling = m.PullStatus(img.Ref)
	return ci, nil
}

// CatalogSize counts the catalog's entries.
func (m *Manager) CatalogSize(ctx context.Context) (int64, error) {
	var n int64
	if err := m.db.WithContext(ctx).Model(&store.Image{}).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count images: %w", err)
	}
	return n, nil
}

// DefaultImage is the site's default image reference, "" when courses must
// choose one.
func (m *Manager) DefaultImage() string { return m.opts.DefaultImage }

// AllowOutside reports whether courses may give their servers access
// outside the host.
func (m *Manager) AllowOutside() bool { return m.opts.AllowOutside }

// SiteIdleTimeout is the site's idle timeout; zero never stops servers.
func (m *Manager) SiteIdleTimeout() time.Duration { return m.opts.IdleTimeout }
