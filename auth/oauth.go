package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/labhub/labhub/store"
)

// codeTTL is how long an authorization code may wait to be exchanged.
const codeTTL = 5 * time.Minute

// OAuthError is an OAuth 2 error (RFC 6749 §5.2) with the HTTP status to
// answer.
type OAuthError struct {
	Status int
	Code   string // invalid_request, invalid_client, invalid_grant, unauthorized_client, access_denied
	Detail string
}

func (e *OAuthError) Error() string { return e.Code + ": " + e.Detail }

// Client is a server's OAuth client together with who owns the server.
type Client struct {
	store.OAuthClient
	Server store.Server
	Owner  store.User
}

// RegisterClient stores the OAuth client of a server; secret is the server's
// API token, as JupyterHub does.
func (s *Service) RegisterClient(ctx context.Context, tx *gorm.DB, clientID string, serverID uint, redirectURI, secret string) error {
	if tx == nil {
		tx = s.db.DB
	}
	c := store.OAuthClient{ClientID: clientID, ServerID: serverID, RedirectURI: redirectURI,
		SecretHash: Hash(secret), CreatedAt: s.now().UTC()}
	if err := tx.WithContext(ctx).Where("client_id = ? OR server_id = ?", clientID, serverID).Delete(&store.OAuthClient{}).Error; err != nil {
		return fmt.Errorf("replace oauth client: %w", err)
	}
	if err := tx.WithContext(ctx).Create(&c).Error; err != nil {
		return fmt.Errorf("store oauth client: %w", err)
	}
	return nil
}

// LookupClient returns a client with its server and owner.
func (s *Service) LookupClient(ctx context.Context, clientID string) (*Client, error) {
	var c Client
	err := s.db.WithContext(ctx).Where("client_id = ?", clientID).First(&c.OAuthClient).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, &OAuthError{400, "invalid_client", "unknown client_id"}
	}
	if err != nil {
		return nil, fmt.Errorf("look up oauth client: %w", err)
	}
	if err := s.db.WithContext(ctx).First(&c.Server, c.ServerID).Error; err != nil {
		return nil, fmt.Errorf("look up client server: %w", err)
	}
	if err := s.db.WithContext(ctx).First(&c.Owner, c.Server.UserID).Error; err != nil {
		return nil, fmt.Errorf("look up client server owner: %w", err)
	}
	return &c, nil
}

// CanAccess reports whether u owns server c. Others get in only with a help
// grant (see Service.HelpGrant), which the hub's proxy holds to reading.
func CanAccess(u *store.User, c *Client) bool {
	return u.ID == c.Owner.ID
}

// Authorize issues an authorization code for u, logged in with session sess,
// to the client clientID, after checking redirectURI equals the registered
// one and that u may use the client's server.
func (s *Service) Authorize(ctx context.Context, u *store.User, sess *store.Session, clientID, redirectURI string) (string, error) {
	c, err := s.LookupClient(ctx, clientID)
	if err != nil {
		return "", err
	}
	if redirectURI != c.RedirectURI {
		return "", &OAuthError{400, "invalid_request", "redirect_uri does not match the one registered for this server"}
	}
	if !CanAccess(u, c) && !s.helping(ctx, u.ID, c.ServerID) {
		return "", &OAuthError{403, "access_denied", fmt.Sprintf("user %s may not use the server of %s", u.Name, c.Owner.Name)}
	}
	code := NewSecret()
	now := s.now().UTC()
	rec := store.OAuthCode{Hash: Hash(code), ClientID: clientID, UserID: u.ID, SessionID: sess.ID,
		RedirectURI: redirectURI, ExpiresAt: now.Add(codeTTL), CreatedAt: now}
	if err := s.db.WithContext(ctx).Create(&rec).Error; err != nil {
		return "", fmt.Errorf("store oauth code: %w", err)
	}
	return code, nil
}

// Grant is the result of a code exchange.
type Grant struct {
	AccessToken string
	ExpiresIn   int
	Scopes      []string
}

// Exchange trades an authorization code for an access token. The client
// authenticates with its secret; the code is single-use.
func (s *Service) Exchange(ctx context.Context, clientID, secret, code, redirectURI string) (*Grant, error) {
	if clientID == "" || secret == "" || code == "" {
		return nil, &OAuthError{400, "invalid_request", "client_id, client_secret and code are required"}
	}
	c, err := s.LookupClient(ctx, clientID)
	if err != nil {
		var oe *OAuthError
		if errors.As(err, &oe) {
			oe.Status, oe.Code = 401, "invalid_client"
		}
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(Hash(secret)), []byte(c.SecretHash)) != 1 {
		return nil, &OAuthError{401, "invalid_client", "client authentication failed"}
	}
	var g *Grant
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var rec store.OAuthCode
		err := tx.Where("hash = ?", Hash(code)).First(&rec).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return &OAuthError{400, "invalid_grant", "unknown or already used code"}
		}
		if err != nil {
			return fmt.Errorf("look up oauth code: %w", err)
		}
		// A code is checked before it is used up, so that another client
		// cannot spend it.
		now := s.now().UTC()
		if rec.ClientID != clientID || rec.RedirectURI != redirectURI || !now.Before(rec.ExpiresAt) {
			return &OAuthError{400, "invalid_grant", "code expired or issued for another client or redirect_uri"}
		}
		// Delete and check the count, so two concurrent exchanges of one
		// code cannot both succeed.
		res := tx.Where("hash = ?", rec.Hash).Delete(&store.OAuthCode{})
		if res.Error != nil {
			return fmt.Errorf("consume oauth code: %w", res.Error)
		}
		if res.RowsAffected != 1 {
			return &OAuthError{400, "invalid_grant", "code already used"}
		}
		var user store.User
		if err := tx.First(&user, rec.UserID).Error; err != nil {
			return fmt.Errorf("look up code user: %w", err)
		}
		scopes := []string{ServerScope(c.Owner.Name, c.Server.Name), "read:users:name!user=" + user.Name}
		ttl := s.OAuthTokenTTL
		var sess store.Session
		if err := tx.Where("id = ?", rec.SessionID).First(&sess).Error; err == nil && ttl == 0 {
			ttl = sess.ExpiresAt.Sub(now)
		}
		if ttl <= 0 {
			ttl = s.sessionTTL()
		}
		exp := now.Add(ttl)
		if user.ID != c.Owner.ID {
			// A helper's token ends with their help grant.
			g, err := s.HelpGrant(ctx, user.ID, c.ServerID)
			if err != nil {
				return err
			}
			if g == nil {
				return &OAuthError{400, "invalid_grant", "the help grant for this server has ended"}
			}
			if g.ExpiresAt.Before(exp) {
				exp, ttl = g.ExpiresAt, g.ExpiresAt.Sub(now)
			}
		}
		serverID := c.ServerID
		v, err := s.IssueToken(ctx, tx, store.Token{Kind: store.TokenOAuth, UserID: user.ID, ServerID: &serverID,
			ClientID: clientID, SessionID: rec.SessionID, Scopes: EncodeScopes(scopes), ExpiresAt: &exp})
		if err != nil {
			return err
		}
		g = &Grant{AccessToken: v, ExpiresIn: int(ttl.Seconds()), Scopes: scopes}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}
