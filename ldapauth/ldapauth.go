// Package ldapauth checks a login name and password against an LDAP
// directory or Active Directory, the way JupyterHub's LDAPAuthenticator
// does: bind DN templates or a DN lookup with a search account, an
// optional search filter, allowed groups by member, uniqueMember,
// memberUid or the user's memberOf, and LDAPS, StartTLS or plain
// connections with a CA file.
//
// Values put into DNs are escaped per RFC 4514 and values put into
// filters per RFC 4515, so a login name cannot change what is bound to or
// searched for. A blank password never reaches the server: many servers
// treat a simple bind without a password as an anonymous bind that
// succeeds.
//
// ldapauth depends on nothing else of Labhub.
package ldapauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// TLS modes of the connection to the server.
const (
	// TLSLDAPS connects with TLS from the start (ldaps://, port 636).
	TLSLDAPS = "ldaps"
	// TLSStartTLS connects in plain and upgrades with StartTLS before any
	// bind (port 389).
	TLSStartTLS = "starttls"
	// TLSPlain sends passwords unencrypted; only for a server on the same
	// host or a network the administrator trusts.
	TLSPlain = "plain"
)

// ErrInvalidCredentials is returned, wrapped in a *Refusal, for every
// login the directory does not accept.
var ErrInvalidCredentials = errors.New("ldap: invalid credentials")

// Refusal is a login the directory did not accept, with the reason for the
// log. The person logging in sees only a generic message.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return "ldap: login refused: " + r.Reason }

// Unwrap makes errors.Is(r, ErrInvalidCredentials) true.
func (r *Refusal) Unwrap() error { return ErrInvalidCredentials }

func refuse(format string, args ...any) error { return &Refusal{Reason: fmt.Sprintf(format, args...)} }

// Config describes the directory and how logins are checked.
type Config struct {
	// Address is the server's host name or IP address.
	Address string
	// Port is the server's port; zero means 636 for LDAPS, else 389.
	Port int
	// TLS is TLSLDAPS, TLSStartTLS or TLSPlain; "" means TLSStartTLS.
	TLS string
	// CAFile is a PEM file of the CAs that sign the server's certificate;
	// "" means the system's CAs.
	CAFile string
	// ServerName is the name the certificate must carry; "" means Address.
	ServerName string
	// Timeout bounds connecting and each operation; zero means 10 s.
	Timeout time.Duration

	// BindDNTemplates are tried in order; "{username}" in each is replaced
	// by the escaped login name. Used when LookupDN is false.
	BindDNTemplates []string
	// LookupDN finds the user's DN by a search (as the search account)
	// instead of the templates; Active Directory needs this.
	LookupDN bool
	// SearchUser and SearchPassword are the search account; both empty
	// means an anonymous search.
	SearchUser     string
	SearchPassword string
	// UserSearchBase is where users are searched for.
	UserSearchBase string
	// UserAttribute holds the login name (uid, sAMAccountName).
	UserAttribute string
	// LookupFilter finds the user; "{login_attr}" becomes UserAttribute and
	// "{login}" the escaped login name. "" means "({login_attr}={login})".
	LookupFilter string
	// UsernameAttribute, when set, is the attribute of the user's entry
	// whose value becomes the Labhub username instead of the login name.
	UsernameAttribute string
	// SearchFilter, when set, must match exactly one entry under
	// UserSearchBase after the bind; "{userattr}" becomes UserAttribute and
	// "{username}" the escaped login name.
	SearchFilter string
	// AllowedGroups are group DNs; when set, only their members may log in.
	AllowedGroups []string
	// ValidUsername, when set, must match the login name before anything
	// is sent to the server.
	ValidUsername *regexp.Regexp
	// EmailAttribute holds the user's email address; "" means "mail".
	EmailAttribute string
}

// Result is an accepted login.
type Result struct {
	// Username is the login name, or the UsernameAttribute's value.
	Username string
	// DN is the entry the password was bound to.
	DN string
	// Email is the entry's email address, "" when it has none or the
	// entry cannot be read.
	Email string
	// Groups are the allowed groups the user is a member of.
	Groups []string
}

// Authenticator checks logins against one directory.
type Authenticator struct {
	cfg Config
	tls *tls.Config
}

// New checks cfg and returns an Authenticator.
func New(cfg Config) (*Authenticator, error) {
	if cfg.Address == "" {
		return nil, errors.New("ldap: server address is empty")
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = TLSStartTLS
	case TLSLDAPS, TLSStartTLS, TLSPlain:
	default:
		return nil, fmt.Errorf("ldap: TLS mode %q: use ldaps, starttls or plain", cfg.TLS)
	}
	if cfg.Port == 0 {
		cfg.Port = 389
		if cfg.TLS == TLSLDAPS {
			cfg.Port = 636
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.EmailAttribute == "" {
		cfg.EmailAttribute = "mail"
	}
	if cfg.LookupFilter == "" {
		cfg.LookupFilter = "({login_attr}={login})"
	}
	var templates []string
	for _, t := range cfg.BindDNTemplates {
		if t = strings.TrimSpace(t); t != "" {
			templates = append(templates, t)
		}
	}
	cfg.BindDNTemplates = templates
	if cfg.LookupDN {
		if cfg.UserSearchBase == "" || cfg.UserAttribute == "" {
			return nil, errors.New("ldap: looking up DNs needs a user search base and a user attribute")
		}
	} else if len(cfg.BindDNTemplates) == 0 {
		return nil, errors.New("ldap: give bind DN templates or turn on DN lookup")
	}
	if cfg.SearchFilter != "" && cfg.UserSearchBase == "" {
		return nil, errors.New("ldap: a search filter needs a user search base")
	}
	for _, g := range cfg.AllowedGroups {
		if _, err := ldap.ParseDN(g); err != nil {
			return nil, fmt.Errorf("ldap: allowed group %q is not a DN: %w", g, err)
		}
	}
	a := &Authenticator{cfg: cfg}
	if cfg.TLS != TLSPlain {
		tc := &tls.Config{ServerName: cfg.ServerName, MinVersion: tls.VersionTLS12}
		if tc.ServerName == "" {
			tc.ServerName = cfg.Address
		}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("ldap: read CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ldap: CA file %s holds no PEM certificate", cfg.CAFile)
			}
			tc.RootCAs = pool
		}
		a.tls = tc
	}
	return a, nil
}

// dial connects, upgrading with StartTLS when configured.
func (a *Authenticator) dial(ctx context.Context) (*ldap.Conn, error) {
	d := &net.Dialer{Timeout: a.cfg.Timeout}
	if dl, ok := ctx.Deadline(); ok {
		d.Deadline = dl
	}
	hostport := net.JoinHostPort(a.cfg.Address, strconv.Itoa(a.cfg.Port))
	var conn *ldap.Conn
	var err error
	if a.cfg.TLS == TLSLDAPS {
		conn, err = ldap.DialURL("ldaps://"+hostport, ldap.DialWithDialer(d), ldap.DialWithTLSConfig(a.tls))
	} else {
		conn, err = ldap.DialURL("ldap://"+hostport, ldap.DialWithDialer(d))
	}
	if err != nil {
		return nil, fmt.Errorf("connect to ldap server %s: %w", hostport, err)
	}
	conn.SetTimeout(a.cfg.Timeout)
	if a.cfg.TLS == TLSStartTLS {
		if err := conn.StartTLS(a.tls); err != nil {
			conn.Close()
			return nil, fmt.Errorf("starttls with ldap server %s: %w", hostport, err)
		}
	}
	return conn, nil
}

// Authenticate checks login and password. A refused login returns an error
// wrapping ErrInvalidCredentials; any other error means the directory
// could not answer.
func (a *Authenticator) Authenticate(ctx context.Context, login, password string) (*Result, error) {
	if a.cfg.ValidUsername != nil && !a.cfg.ValidUsername.MatchString(login) {
		return nil, refuse("login name does not match the valid username pattern")
	}
	if login == "" {
		return nil, refuse("empty login name")
	}
	if strings.TrimSpace(password) == "" {
		return nil, refuse("blank password")
	}
	conn, err := a.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()

	res := &Result{Username: login}
	var entry *ldap.Entry
	if a.cfg.LookupDN {
		entry, err = a.lookup(conn, login)
		if err != nil {
			return nil, err
		}
		res.DN = entry.DN
		if err := conn.Bind(entry.DN, password); err != nil {
			return nil, bindError(err, "wrong password for "+entry.DN)
		}
	} else {
		for _, t := range a.cfg.BindDNTemplates {
			dn := strings.ReplaceAll(t, "{username}", ldap.EscapeDN(login))
			err = conn.Bind(dn, password)
			if err == nil {
				res.DN = dn
				break
			}
			if !isResultError(err) {
				return nil, fmt.Errorf("bind to ldap: %w", err)
			}
		}
		if res.DN == "" {
			return nil, refuse("no bind DN template accepted the password")
		}
		// Read the entry as the user, for email, memberOf and the username
		// attribute; a directory that hides it from its own user is fine.
		entry, _ = a.read(conn, res.DN)
	}
	if entry != nil {
		res.Email = entry.GetAttributeValue(a.cfg.EmailAttribute)
		if a.cfg.UsernameAttribute != "" {
			vals := entry.GetAttributeValues(a.cfg.UsernameAttribute)
			if len(vals) != 1 || vals[0] == "" {
				return nil, refuse("entry %s has %d values of %s, want one", res.DN, len(vals), a.cfg.UsernameAttribute)
			}
			res.Username = vals[0]
		}
	}
	if a.cfg.SearchFilter != "" {
		f := strings.NewReplacer("{userattr}", a.cfg.UserAttribute, "{username}", ldap.EscapeFilter(login)).
			Replace(a.cfg.SearchFilter)
		sr, err := conn.Search(ldap.NewSearchRequest(a.cfg.UserSearchBase, ldap.ScopeWholeSubtree,
			ldap.NeverDerefAliases, 2, 0, false, f, []string{"1.1"}, nil))
		if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
			return nil, fmt.Errorf("ldap search filter: %w", err)
		}
		if sr == nil || len(sr.Entries) != 1 {
			return nil, refuse("search filter did not match exactly one entry")
		}
	}
	if len(a.cfg.AllowedGroups) > 0 {
		res.Groups, err = a.groups(conn, entry, res.DN, login)
		if err != nil {
			return nil, err
		}
		if len(res.Groups) == 0 {
			return nil, refuse("%s is in none of the allowed groups", res.DN)
		}
	}
	return res, nil
}

// lookup finds the user's entry as the search account.
func (a *Authenticator) lookup(conn *ldap.Conn, login string) (*ldap.Entry, error) {
	if a.cfg.SearchUser != "" || a.cfg.SearchPassword != "" {
		if err := conn.Bind(a.cfg.SearchUser, a.cfg.SearchPassword); err != nil {
			// The search account is the administrator's configuration: its
			// failure is an outage, not a refused login.
			return nil, fmt.Errorf("bind as ldap search account: %w", err)
		}
	}
	f := strings.NewReplacer("{login_attr}", a.cfg.UserAttribute, "{login}", ldap.EscapeFilter(login)).
		Replace(a.cfg.LookupFilter)
	sr, err := conn.Search(ldap.NewSearchRequest(a.cfg.UserSearchBase, ldap.ScopeWholeSubtree,
		ldap.NeverDerefAliases, 2, 0, false, f, a.attributes(), nil))
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return nil, fmt.Errorf("look up ldap user: %w", err)
	}
	if sr == nil || len(sr.Entries) == 0 {
		return nil, refuse("no entry matches the login name")
	}
	if len(sr.Entries) > 1 {
		return nil, refuse("more than one entry matches the login name")
	}
	return sr.Entries[0], nil
}

// read returns the entry at dn.
func (a *Authenticator) read(conn *ldap.Conn, dn string) (*ldap.Entry, error) {
	sr, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", a.attributes(), nil))
	if err != nil {
		return nil, err
	}
	if len(sr.Entries) != 1 {
		return nil, errors.New("entry not readable")
	}
	return sr.Entries[0], nil
}

func (a *Authenticator) attributes() []string {
	attrs := []string{a.cfg.EmailAttribute, "memberOf"}
	for _, x := range []string{a.cfg.UserAttribute, a.cfg.UsernameAttribute} {
		if x != "" {
			attrs = append(attrs, x)
		}
	}
	return attrs
}

// groups returns the allowed groups the user belongs to: by the entry's
// memberOf (Active Directory, OpenLDAP's memberof overlay), or by a group
// entry listing the user's DN as member or uniqueMember, or the login name
// as memberUid.
func (a *Authenticator) groups(conn *ldap.Conn, entry *ldap.Entry, dn, login string) ([]string, error) {
	var memberOf []*ldap.DN
	if entry != nil {
		for _, v := range entry.GetAttributeValues("memberOf") {
			if d, err := ldap.ParseDN(v); err == nil {
				memberOf = append(memberOf, d)
			}
		}
	}
	filter := fmt.Sprintf("(|(member=%[1]s)(uniqueMember=%[1]s)(memberUid=%[2]s))",
		ldap.EscapeFilter(dn), ldap.EscapeFilter(login))
	var out []string
	for _, g := range a.cfg.AllowedGroups {
		gdn, _ := ldap.ParseDN(g)
		member := false
		for _, m := range memberOf {
			if m.EqualFold(gdn) {
				member = true
				break
			}
		}
		if !member {
			sr, err := conn.Search(ldap.NewSearchRequest(g, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
				filter, []string{"1.1"}, nil))
			switch {
			case err == nil:
				member = len(sr.Entries) > 0
			case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
				// A group that does not exist has no members.
			default:
				return nil, fmt.Errorf("check ldap group %s: %w", g, err)
			}
		}
		if member {
			out = append(out, g)
		}
	}
	return out, nil
}

// isResultError reports whether err is an answer of the server (such as
// invalid credentials) rather than a broken connection.
func isResultError(err error) bool {
	var le *ldap.Error
	return errors.As(err, &le) && le.ResultCode != ldap.ErrorNetwork && le.ResultCode < ldap.ErrorNetwork
}

func bindError(err error, reason string) error {
	if isResultError(err) {
		return refuse("%s (%v)", reason, err)
	}
	return fmt.Errorf("bind to ldap: %w", err)
}
