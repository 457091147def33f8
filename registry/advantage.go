package registry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/store"
)

// Deployment policies: what a launch from a deployment id that a known
// registration does not list gets.
const (
	// PolicyReject refuses the launch; the administrator adds the
	// deployment id first. This is the default.
	PolicyReject = "reject"
	// PolicyAdd records the deployment id and accepts the launch, for
	// platforms whose administrators create deployments on their own
	// (Blackboard institutions, Canvas sub-accounts).
	PolicyAdd = "add"
)

// NormalizeOrigins checks that every entry is a web origin
// (scheme://host[:port], no path) and returns them lower-cased, without
// duplicates, in the order given.
func NormalizeOrigins(in []string) ([]string, error) {
	var out []string
	for _, o := range in {
		for _, f := range strings.Fields(o) {
			u, err := url.Parse(f)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
				strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
				return nil, fmt.Errorf("origin %q is not a web origin such as https://lms.example.edu", f)
			}
			n := strings.ToLower(u.Scheme + "://" + u.Host)
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out, nil
}

// originOf returns the origin of a URL, "" when it has none.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

// AcceptDeployment implements the deployment check of lti.LTI13Verifier:
// a registered deployment id is accepted; an unknown one is recorded and
// accepted when the platform's policy is PolicyAdd, and refused otherwise.
// It runs only after the id_token's signature verified, so only the
// platform itself can add deployments.
func (r *Registry) AcceptDeployment(ctx context.Context, p lti.Platform, id string) error {
	if slices.Contains(p.Deployments, id) {
		return nil
	}
	n, err := strconv.ParseUint(p.ID, 10, 64)
	if err != nil {
		return fmt.Errorf("platform id %q: %w", p.ID, err)
	}
	var sp store.Platform
	if err := r.db.WithContext(ctx).Select("id", "deployment_policy").First(&sp, uint(n)).Error; err != nil {
		return &lti.Error{Code: lti.CodeStoreError, Status: http.StatusInternalServerError,
			Detail: "load deployment policy", Err: err}
	}
	if sp.DeploymentPolicy != PolicyAdd {
		return &lti.Error{Code: lti.CodeUnknownDeployment, Status: http.StatusForbidden,
			Detail: fmt.Sprintf("deployment %q is not registered for platform %q", id, p.Issuer),
			Hint: fmt.Sprintf("Add deployment ID %q to the registration of %s in Labhub (labhub lti13 "+
				"add-platform --deployment-id, or the admin console), or let this registration accept new "+
				"deployments.", id, p.Issuer)}
	}
	dep := store.Deployment{PlatformID: sp.ID, DeploymentID: id}
	if err := r.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&dep).Error; err != nil {
		return &lti.Error{Code: lti.CodeStoreError, Status: http.StatusInternalServerError,
			Detail: "record deployment", Err: err}
	}
	slog.Info("added deployment by policy", "platform_id", sp.ID, "issuer", p.Issuer, "deployment_id", id)
	return nil
}

// SetDeploymentPolicy changes a platform's deployment policy.
func (r *Registry) SetDeploymentPolicy(ctx context.Context, platformID uint, policy string) error {
	if policy != PolicyReject && policy != PolicyAdd {
		return fmt.Errorf("deployment policy %q: use %s or %s", policy, PolicyReject, PolicyAdd)
	}
	res := r.db.WithContext(ctx).Model(&store.Platform{}).Where("id = ?", platformID).
		Update("deployment_policy", policy)
	if res.Error != nil {
		return fmt.Errorf("set deployment policy: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return store.ErrNotFound
	}
	return nil
}

// SetOrigins replaces the origins that may frame Labhub for a platform.
func (r *Registry) SetOrigins(ctx context.Context, platformID uint, origins []string) error {
	o, err := NormalizeOrigins(origins)
	if err != nil {
		return err
	}
	res := r.db.WithContext(ctx).Model(&store.Platform{}).Where("id = ?", platformID).
		Update("origins", strings.Join(o, " "))
	if res.Error != nil {
		return fmt.Errorf("set origins: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return store.ErrNotFound
	}
	r.forgetAncestors()
	return nil
}

// AddDeployment adds a deployment id to a platform.
func (r *Registry) AddDeployment(ctx context.Context, platformID uint, id string) error {
	id = strings.TrimSpace(id)
	if id == "" {
		return errors.New("a deployment id must not be empty")
	}
	dep := store.Deployment{PlatformID: platformID, DeploymentID: id}
	if err := r.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&dep).Error; err != nil {
		return fmt.Errorf("add deployment: %w", err)
	}
	return nil
}

// ancestorsTTL bounds how long another process's change to the origins
// takes to reach this one.
const ancestorsTTL = 30 * time.Second

// frameCache holds the union of the platforms' origins.
type frameCache struct {
	// mu protects the fields below.
	mu      sync.Mutex
	origins []string
	loaded  time.Time
}

func (r *Registry) forgetAncestors() {
	r.frames.mu.Lock()
	r.frames.loaded = time.Time{}
	r.frames.mu.Unlock()
}

// FrameAncestors returns the origins of every registered platform's LMS
// pages, which may frame Labhub. The list is cached for a few seconds.
func (r *Registry) FrameAncestors(ctx context.Context) ([]string, error) {
	r.frames.mu.Lock()
	defer r.frames.mu.Unlock()
	now := r.now()
	if !r.frames.loaded.IsZero() && now.Sub(r.frames.loaded) < ancestorsTTL {
		return r.frames.origins, nil
	}
	var rows []string
	if err := r.db.WithContext(ctx).Model(&store.Platform{}).Pluck("origins", &rows).Error; err != nil {
		return r.frames.origins, fmt.Errorf("list platform origins: %w", err)
	}
	var out []string
	for _, row := range rows {
		for _, o := range strings.Fields(row) {
			if !slices.Contains(out, o) {
				out = append(out, o)
			}
		}
	}
	slices.Sort(out)
	r.frames.origins, r.frames.loaded = out, now
	return out, nil
}

// ErrInvite reports an invite that does not exist, expired or was used.
var ErrInvite = errors.New("registration invite is unknown, expired or used")

func inviteHash(token string) string {
	sum := sha256.Sum256([]byte("registration-invite\x00" + token))
	return hex.EncodeToString(sum[:])
}

// CreateInvite creates a registration invite valid for ttl and returns its
// token, which is shown once and stored only hashed.
func (r *Registry) CreateInvite(ctx context.Context, ttl time.Duration, note string) (string, *store.RegistrationInvite, error) {
	if ttl <= 0 {
		return "", nil, errors.New("an invite needs a positive lifetime")
	}
	token := rand.Text()
	now := r.now().UTC()
	inv := store.RegistrationInvite{Hash: inviteHash(token), Note: note, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := r.db.WithContext(ctx).Create(&inv).Error; err != nil {
		return "", nil, fmt.Errorf("store invite: %w", err)
	}
	return token, &inv, nil
}

// CheckInvite returns the unused, unexpired invite with token, or
// ErrInvite.
func (r *Registry) CheckInvite(ctx context.Context, token string) (*store.RegistrationInvite, error) {
	if token == "" {
		return nil, ErrInvite
	}
	var inv store.RegistrationInvite
	err := r.db.WithContext(ctx).Where("hash = ?", inviteHash(token)).First(&inv).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrInvite
	}
	if err != nil {
		return nil, fmt.Errorf("look up invite: %w", err)
	}
	if inv.UsedAt != nil || !r.now().Before(inv.ExpiresAt) {
		return nil, ErrInvite
	}
	return &inv, nil
}

// UseInvite marks an invite used by the registration of platformID. Of two
// registrations racing for one invite, the second gets ErrInvite.
func (r *Registry) UseInvite(ctx context.Context, id, platformID uint) error {
	res := r.db.WithContext(ctx).Model(&store.RegistrationInvite{}).
		Where("id = ? AND used_at IS NULL", id).
		Updates(map[string]any{"used_at": r.now().UTC(), "platform_id": platformID})
	if res.Error != nil {
		return fmt.Errorf("use invite: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrInvite
	}
	return nil
}

// Invites lists the invites, newest first.
func (r *Registry) Invites(ctx context.Context) ([]store.RegistrationInvite, error) {
	var out []store.RegistrationInvite
	if err := r.db.WithContext(ctx).Order("id DESC").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list invites: %w", err)
	}
	return out, nil
}
