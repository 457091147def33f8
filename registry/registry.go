// Package registry keeps the LMS registrations Labhub trusts — LTI 1.3
// platforms with their deployment ids and LTI 1.1 consumers with their sealed
// secrets — and serves them to package lti through its lookup interfaces,
// together with a database-backed nonce store that survives restarts.
//
// registry depends on lti (types only), seal and store.
package registry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/seal"
	"github.com/labhub/labhub/store"
)

const consumerSecretLabel = "lti11-consumer-secret"

// Registry reads and writes registrations.
type Registry struct {
	db     *store.DB
	keys   *seal.Keyring
	now    func() time.Time
	frames frameCache
}

// New returns a Registry.
func New(db *store.DB, keys *seal.Keyring, now func() time.Time) *Registry {
	if now == nil {
		now = time.Now
	}
	return &Registry{db: db, keys: keys, now: now}
}

// ProviderLTI13 names the identity provider of a platform.
func ProviderLTI13(id uint) string { return "lti13:" + strconv.FormatUint(uint64(id), 10) }

// ProviderLTI11 names the identity provider of a consumer.
func ProviderLTI11(id uint) string { return "lti11:" + strconv.FormatUint(uint64(id), 10) }

// PutConsumer adds an LTI 1.1 consumer or replaces the secret of an existing
// key.
func (r *Registry) PutConsumer(ctx context.Context, key, secret, name string) (*store.Consumer, error) {
	key = strings.TrimSpace(key)
	if key == "" || secret == "" {
		return nil, errors.New("a consumer needs a key and a secret")
	}
	sealed, err := r.keys.Seal(consumerSecretLabel+"\x00"+key, []byte(secret))
	if err != nil {
		return nil, err
	}
	c := store.Consumer{Key: key, SecretSealed: sealed, Name: name}
	err = r.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "key"}},
		DoUpdates: clause.AssignmentColumns([]string{"secret_sealed", "name", "updated_at"}),
	}).Create(&c).Error
	if err != nil {
		return nil, fmt.Errorf("store consumer %s: %w", key, err)
	}
	if err := r.db.WithContext(ctx).Where("key = ?", key).First(&c).Error; err != nil {
		return nil, fmt.Errorf("load consumer %s: %w", key, err)
	}
	return &c, nil
}

// Consumer returns the consumer with key.
func (r *Registry) Consumer(ctx context.Context, key string) (*store.Consumer, error) {
	var c store.Consumer
	err := r.db.WithContext(ctx).Where("key = ?", key).First(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, lti.ErrUnknownConsumer
	}
	if err != nil {
		return nil, fmt.Errorf("look up consumer: %w", err)
	}
	return &c, nil
}

// Secret implements lti.SecretLookup.
func (r *Registry) Secret(ctx context.Context, key string) (string, error) {
	c, err := r.Consumer(ctx, key)
	if err != nil {
		return "", err
	}
	b, err := r.keys.Open(consumerSecretLabel+"\x00"+key, c.SecretSealed)
	if err != nil {
		return "", fmt.Errorf("open secret of consumer %s: %w", key, err)
	}
	return string(b), nil
}

// Consumers lists the consumers.
func (r *Registry) Consumers(ctx context.Context) ([]store.Consumer, error) {
	var out []store.Consumer
	if err := r.db.WithContext(ctx).Order("key").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list consumers: %w", err)
	}
	return out, nil
}

// ErrNoDeployment is returned for a platform that would accept no launch:
// it has no deployment id and rejects unknown ones.
var ErrNoDeployment = errors.New("a platform needs at least one deployment id, unless it adds unknown deployments " +
	"(policy " + PolicyAdd + "): with none, every launch would be refused")

// PlatformInput is a platform registration as an administrator enters it.
type PlatformInput struct {
	Name, Issuer, ClientID                    string
	AuthURL, TokenURL, TokenAudience, JWKSURL string
	Deployments                               []string
	// Origins are the web origins of the LMS pages that frame Labhub. If
	// empty, a new platform gets its issuer's origin and an existing one
	// keeps its origins.
	Origins []string
	// DeploymentPolicy is PolicyReject or PolicyAdd. If empty, a new
	// platform rejects unknown deployments and an existing one keeps its
	// policy.
	DeploymentPolicy string
	// ByHand marks a registration an administrator typed in (the command
	// line or the console's form): it must name the token URL, which grades
	// and roster synchronisation need, so that a forgotten one shows at
	// once rather than at the first grade. Dynamic registration leaves it
	// false: a platform that offers no services advertises no token
	// endpoint, and launches work without one.
	ByHand bool
}

// Validate checks the registration and normalises its origins; PutPlatform
// calls it, and callers may to refuse bad input before opening anything.
// Whether the platform is left with a deployment is PutPlatform's check,
// as it depends on what is stored.
func (p *PlatformInput) Validate() error {
	if p.Issuer == "" || p.ClientID == "" {
		return errors.New("a platform needs an issuer and a client id")
	}
	for _, f := range []struct{ name, v string }{{"issuer", p.Issuer}, {"auth URL", p.AuthURL}, {"JWKS URL", p.JWKSURL}} {
		if err := checkURL(f.name, f.v, true); err != nil {
			return err
		}
	}
	if err := checkURL("token URL", p.TokenURL, p.ByHand); err != nil {
		return err
	}
	if err := checkURL("token audience", p.TokenAudience, false); err != nil {
		return err
	}
	for _, d := range p.Deployments {
		if strings.TrimSpace(d) == "" {
			return errors.New("deployment ids must not be empty")
		}
	}
	origins, err := NormalizeOrigins(p.Origins)
	if err != nil {
		return err
	}
	p.Origins = origins
	if p.DeploymentPolicy != "" && p.DeploymentPolicy != PolicyReject && p.DeploymentPolicy != PolicyAdd {
		return fmt.Errorf("deployment policy %q: use %s or %s", p.DeploymentPolicy, PolicyReject, PolicyAdd)
	}
	return nil
}

func checkURL(name, v string, required bool) error {
	if v == "" {
		if required {
			return fmt.Errorf("the platform's %s is required", name)
		}
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("the platform's %s %q is not an http(s) URL", name, v)
	}
	return nil
}

// PutPlatform adds a platform or updates the one with the same issuer and
// client id; deployment ids are added to those it has.
func (r *Registry) PutPlatform(ctx context.Context, in PlatformInput) (*store.Platform, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	var p store.Platform
	err := r.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		p = store.Platform{Name: in.Name, Issuer: in.Issuer, ClientID: in.ClientID, AuthURL: in.AuthURL,
			TokenURL: in.TokenURL, TokenAudience: in.TokenAudience, JWKSURL: in.JWKSURL,
			Origins: strings.Join(in.Origins, " "), DeploymentPolicy: in.DeploymentPolicy}
		update := []string{"name", "auth_url", "token_url", "token_audience", "jwks_url", "updated_at"}
		if p.Origins != "" {
			update = append(update, "origins")
		} else {
			p.Origins = originOf(in.Issuer)
		}
		if p.DeploymentPolicy != "" {
			update = append(update, "deployment_policy")
		} else {
			p.DeploymentPolicy = PolicyReject
		}
		err := tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "issuer"}, {Name: "client_id"}},
			DoUpdates: clause.AssignmentColumns(update),
		}).Create(&p).Error
		if err != nil {
			return fmt.Errorf("store platform: %w", err)
		}
		if err := tx.Where("issuer = ? AND client_id = ?", in.Issuer, in.ClientID).First(&p).Error; err != nil {
			return fmt.Errorf("load platform: %w", err)
		}
		for _, d := range in.Deployments {
			dep := store.Deployment{PlatformID: p.ID, DeploymentID: strings.TrimSpace(d)}
			if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&dep).Error; err != nil {
				return fmt.Errorf("store deployment %s: %w", d, err)
			}
		}
		if err := tx.Preload("Deployments").First(&p, p.ID).Error; err != nil {
			return fmt.Errorf("load platform: %w", err)
		}
		if len(p.Deployments) == 0 && p.DeploymentPolicy != PolicyAdd {
			return ErrNoDeployment
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.forgetAncestors()
	return &p, nil
}

// Platforms lists the platforms with their deployments.
func (r *Registry) Platforms(ctx context.Context) ([]store.Platform, error) {
	var out []store.Platform
	if err := r.db.WithContext(ctx).Preload("Deployments").Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list platforms: %w", err)
	}
	return out, nil
}

// Platform implements lti.PlatformLookup.
func (r *Registry) Platform(ctx context.Context, issuer, clientID string) (lti.Platform, error) {
	var p store.Platform
	err := r.db.WithContext(ctx).Preload("Deployments").Where("issuer = ? AND client_id = ?", issuer, clientID).First(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return lti.Platform{}, lti.ErrUnknownPlatform
	}
	if err != nil {
		return lti.Platform{}, fmt.Errorf("look up platform: %w", err)
	}
	return toLTI(p), nil
}

// PlatformByIssuer finds the only platform of an issuer, for login
// initiations that carry no client_id. More than one is ErrUnknownPlatform:
// the platform must then send client_id.
func (r *Registry) PlatformByIssuer(ctx context.Context, issuer string) (lti.Platform, error) {
	var ps []store.Platform
	if err := r.db.WithContext(ctx).Preload("Deployments").Where("issuer = ?", issuer).Limit(2).Find(&ps).Error; err != nil {
		return lti.Platform{}, fmt.Errorf("look up platform: %w", err)
	}
	if len(ps) != 1 {
		return lti.Platform{}, lti.ErrUnknownPlatform
	}
	return toLTI(ps[0]), nil
}

// PlatformByID returns a platform by its store id.
func (r *Registry) PlatformByID(ctx context.Context, id string) (lti.Platform, error) {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return lti.Platform{}, lti.ErrUnknownPlatform
	}
	var p store.Platform
	err = r.db.WithContext(ctx).Preload("Deployments").First(&p, uint(n)).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return lti.Platform{}, lti.ErrUnknownPlatform
	}
	if err != nil {
		return lti.Platform{}, fmt.Errorf("look up platform: %w", err)
	}
	return toLTI(p), nil
}

func toLTI(p store.Platform) lti.Platform {
	out := lti.Platform{ID: strconv.FormatUint(uint64(p.ID), 10), Issuer: p.Issuer, ClientID: p.ClientID,
		AuthURL: p.AuthURL, TokenURL: p.TokenURL, TokenAudience: p.TokenAudience, JWKSURL: p.JWKSURL}
	for _, d := range p.Deployments {
		out.Deployments = append(out.Deployments, d.DeploymentID)
	}
	return out
}
