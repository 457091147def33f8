package lti

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// DefaultStateTTL is how long a login state is accepted when StateCodec.TTL
// is zero: long enough for a slow LMS round trip, short enough that a leaked
// state is soon useless.
const DefaultStateTTL = 10 * time.Minute

// MinStateKeyLen is the shortest StateCodec key accepted, in bytes.
const MinStateKeyLen = 32

// maxStateLen bounds the state a login may carry and Open will look at.
const maxStateLen = 8192

var b64 = base64.RawURLEncoding.Strict()

// StateCodec issues and opens the signed, self-contained state of an LTI 1.3
// login. Nothing is stored for a login that never comes back, so floods of
// login initiations cost no storage. The caller binds a state to the browser
// with a cookie holding State.ID; the launch is accepted only when the cookie,
// the state and the nonce derived from it agree.
type StateCodec struct {
	// Key is the HMAC-SHA256 key, at least MinStateKeyLen random bytes. Every
	// process that may receive a launch must use the same key.
	Key []byte
	// TTL is how long a state is accepted. If zero, DefaultStateTTL is used.
	TTL time.Duration
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
}

// State is what a login state carries.
type State struct {
	// ID is random and unique per login; the nonce is derived from it.
	ID string
	// PlatformID is the store id of the registration the login was for.
	PlatformID string
	// TargetLinkURI is the target_link_uri of the login initiation.
	TargetLinkURI string
	// DeploymentID is the lti_deployment_id of the login initiation, or "".
	DeploymentID string
	// StorageTarget is the lti_storage_target the login offered (platform
	// storage through postMessage), or "".
	StorageTarget string
	// Expires is when the state stops being accepted, to the second.
	Expires time.Time
}

type statePayload struct {
	ID         string `json:"i"`
	PlatformID string `json:"p"`
	Target     string `json:"t"`
	Deployment string `json:"d,omitempty"`
	Storage    string `json:"s,omitempty"`
	Expires    int64  `json:"e"`
}

// New issues a state for a login to the platform with the given store id and
// returns its encoded form (URL-safe), the nonce to send with the
// authentication request, and what it carries.
func (c *StateCodec) New(
	platformID, targetLinkURI, deploymentID string,
) (state, nonce string, s State, err error) {
	return c.issue(State{PlatformID: platformID, TargetLinkURI: targetLinkURI, DeploymentID: deploymentID})
}

// NewLogin issues the state of a login initiation to the platform with the
// given store id, remembering its target link URI, deployment id and
// storage target.
func (c *StateCodec) NewLogin(platformID string, lr LoginRequest) (state, nonce string, s State, err error) {
	return c.issue(State{PlatformID: platformID, TargetLinkURI: lr.TargetLinkURI,
		DeploymentID: lr.DeploymentID, StorageTarget: lr.StorageTarget})
}

func (c *StateCodec) issue(s State) (state, nonce string, _ State, err error) {
	if len(c.Key) < MinStateKeyLen {
		return "", "", State{}, fmt.Errorf("issue login state: key has %d bytes, want at least %d",
			len(c.Key), MinStateKeyLen)
	}
	s.ID = rand.Text()
	s.Expires = c.now().Add(c.ttl()).Truncate(time.Second)
	payload, err := json.Marshal(statePayload{
		ID: s.ID, PlatformID: s.PlatformID, Target: s.TargetLinkURI, Deployment: s.DeploymentID,
		Storage: s.StorageTarget, Expires: s.Expires.Unix(),
	})
	if err != nil {
		return "", "", State{}, fmt.Errorf("issue login state: %w", err)
	}
	body := b64.EncodeToString(payload)
	state = body + "." + b64.EncodeToString(c.mac("state", body))
	if len(state) > maxStateLen {
		return "", "", State{}, fmt.Errorf("issue login state: state is %d bytes, more than %d",
			len(state), maxStateLen)
	}
	return state, c.Nonce(s), s, nil
}

// Open verifies a state's signature, in constant time, and its age, and
// returns what it carries.
func (c *StateCodec) Open(state string) (State, error) {
	if len(c.Key) < MinStateKeyLen {
		return State{}, newError(CodeMisconfigured, http.StatusInternalServerError, "", nil,
			"login state key has %d bytes, want at least %d", len(c.Key), MinStateKeyLen)
	}
	if state == "" {
		return State{}, malformed(CodeBadState, "state is missing")
	}
	if len(state) > maxStateLen {
		return State{}, malformed(CodeBadState, "state is longer than %d bytes", maxStateLen)
	}
	body, sig, ok := strings.Cut(state, ".")
	mac, err := b64.DecodeString(sig)
	if !ok || err != nil || !hmac.Equal(mac, c.mac("state", body)) {
		return State{}, malformed(CodeBadState, "state signature does not verify")
	}
	payload, err := b64.DecodeString(body)
	if err != nil {
		return State{}, malformed(CodeBadState, "state is not base64url")
	}
	var p statePayload
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil || p.ID == "" {
		return State{}, malformed(CodeBadState, "state payload is malformed")
	}
	s := State{ID: p.ID, PlatformID: p.PlatformID, TargetLinkURI: p.Target, DeploymentID: p.Deployment,
		StorageTarget: p.Storage, Expires: time.Unix(p.Expires, 0)}
	if !c.now().Before(s.Expires) {
		return State{}, malformed(CodeExpiredState, "state expired at %s",
			s.Expires.UTC().Format(time.RFC3339))
	}
	return s, nil
}

// Nonce returns the nonce of a state: base64url(HMAC-SHA256(Key, "nonce" 0x00
// ID)). Being derived, it is bound to the state that issued it and needs no
// storage until the launch comes back.
func (c *StateCodec) Nonce(s State) string {
	return b64.EncodeToString(c.mac("nonce", s.ID))
}

// mac separates the state signature from the nonce derivation by a label, so
// one can never be passed off as the other.
func (c *StateCodec) mac(label, msg string) []byte {
	h := hmac.New(sha256.New, c.Key)
	h.Write([]byte(label))
	h.Write([]byte{0})
	h.Write([]byte(msg))
	return h.Sum(nil)
}

func (c *StateCodec) ttl() time.Duration {
	if c.TTL > 0 {
		return c.TTL
	}
	return DefaultStateTTL
}

func (c *StateCodec) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Match checks that a verified launch belongs to the login this state was
// issued for: the same platform registration and, when the login named one,
// the same deployment.
func (s State) Match(p Platform, l *Launch) error {
	if s.PlatformID != p.ID {
		return malformed(CodeBadState, "state was issued for platform %s, the token comes from %s",
			quote(s.PlatformID), quote(p.ID))
	}
	if s.DeploymentID != "" && l != nil && l.DeploymentID != s.DeploymentID {
		return malformed(CodeBadState, "login named deployment %s, the token carries %s",
			quote(s.DeploymentID), quote(l.DeploymentID))
	}
	return nil
}
