package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// AccountSettings are the settings of the fallback logins (native accounts
// and LDAP), the userlist, lockouts and sessions.
type AccountSettings struct {
	AuthMode        string
	Signup          string
	PasswordMinLen  int
	PasswordScore   int
	MaxFailures     int
	MaxAddrFailures int
	Lockout         time.Duration
	Userlist        string
	Blocked         string
	Link            string
	SessionTTL      time.Duration

	LDAPAddress       string
	LDAPPort          int
	LDAPTLS           string
	LDAPCAFile        string
	LDAPBindTemplates string
	LDAPLookupDN      bool
	LDAPSearchUser    string
	LDAPSearchPass    string
	LDAPSearchBase    string
	LDAPUserAttr      string
	LDAPLookupFilter  string
	LDAPUsernameAttr  string
	LDAPSearchFilter  string
	LDAPGroups        string
	LDAPUsernameRegex string
	LDAPEmailAttr     string

	// Native and LDAP are derived from AuthMode by Validate.
	Native, LDAP bool
}

func declareAccounts(s *Set, c *AccountSettings) {
	g := "Logins and sessions"
	s.String(&c.AuthMode, Setting{Flag: "auth-mode", Env: []string{"LABHUB_AUTH_MODE", "AUTH_MODE"}, Default: "lti", Group: g,
		Usage: "Logins besides LTI (which is always on): lti (none), native, ldap, or native,ldap."})
	s.String(&c.Signup, Setting{Flag: "signup", Env: []string{"LABHUB_SIGNUP"}, Default: "approval", Group: g,
		Usage: "Who may create native accounts at /hub/signup: approval (an administrator approves each), open, or off."})
	s.Int(&c.PasswordMinLen, Setting{Flag: "password-min-length", Env: []string{"LABHUB_PASSWORD_MIN_LENGTH"}, Default: "10", Group: g,
		Usage: "Least number of characters of a native account's password."})
	s.Int(&c.PasswordScore, Setting{Flag: "password-min-score", Env: []string{"LABHUB_PASSWORD_MIN_SCORE"}, Default: "2", Group: g,
		Usage: "Least zxcvbn strength score (0-4) of a new password; common passwords are refused at any setting."})
	s.Int(&c.MaxFailures, Setting{Flag: "login-max-failures", Env: []string{"LABHUB_LOGIN_MAX_FAILURES"}, Default: "5", Group: g,
		Usage: "Failed logins of one account within the lockout time that lock it (0 never locks)."})
	s.Int(&c.MaxAddrFailures, Setting{Flag: "login-max-failures-per-address", Env: []string{"LABHUB_LOGIN_MAX_FAILURES_PER_ADDRESS"}, Default: "20", Group: g,
		Usage: "Failed logins from one client address within the lockout time that make it wait (0 never limits)."})
	s.Duration(&c.Lockout, Setting{Flag: "login-lockout", Env: []string{"LABHUB_LOGIN_LOCKOUT"}, Default: "600s", Group: g,
		Usage: "How long a locked account or address waits; kept in the database across restarts."})
	s.String(&c.Userlist, Setting{Flag: "userlist", Env: []string{"LABHUB_USERLIST"}, Group: g,
		Usage: "File of the old deployment's format (`name [admin]` a line): only listed names may use native and LDAP logins, and `admin` makes an administrator."})
	s.String(&c.Blocked, Setting{Flag: "blocked-users", Env: []string{"LABHUB_BLOCKED_USERS"}, Default: "root", Group: g,
		Usage: "Comma-separated names that can never log in by any method, LTI included."})
	s.String(&c.Link, Setting{Flag: "link-accounts", Env: []string{"LABHUB_LINK_ACCOUNTS"}, Default: "none", Group: g,
		Usage: "When an LDAP login and an LMS launch are one user: none, username (same username) or email (same email address)."})
	s.Duration(&c.SessionTTL, Setting{Flag: "session-ttl", Env: []string{"LABHUB_SESSION_TTL"}, Default: "12h", Group: g,
		Usage: "How long a login lasts; the session cookie expires with it."})

	g = "LDAP"
	s.String(&c.LDAPAddress, Setting{Flag: "ldap-server-address", Env: []string{"LABHUB_LDAP_SERVER_ADDRESS", "LDAP_server_address"}, Group: g,
		Usage: "Host name or IP address of the LDAP or Active Directory server."})
	s.Int(&c.LDAPPort, Setting{Flag: "ldap-server-port", Env: []string{"LABHUB_LDAP_SERVER_PORT", "LDAP_server_port"}, Group: g,
		Usage: "Port of the server; 0 means 636 for ldaps, else 389."})
	s.String(&c.LDAPTLS, Setting{Flag: "ldap-tls", Env: []string{"LABHUB_LDAP_TLS", "LDAP_tls_strategy"}, Default: "starttls", Group: g,
		Usage: "ldaps (TLS from the start), starttls (upgrade before binding) or plain; LDAPAuthenticator's on_connect, before_bind and insecure also work."})
	s.String(&c.LDAPCAFile, Setting{Flag: "ldap-ca-file", Env: []string{"LABHUB_LDAP_CA_FILE"}, Group: g,
		Usage: "PEM file of the CAs that sign the server's certificate; empty means the system's CAs."})
	s.String(&c.LDAPBindTemplates, Setting{Flag: "ldap-bind-dn-template", Env: []string{"LABHUB_LDAP_BIND_DN_TEMPLATE", "LDAP_bind_dn_template"}, Group: g,
		Usage: "`;`-separated DN templates tried in order, {username} standing for the escaped login name (e.g. uid={username},ou=people,dc=example,dc=org)."})
	s.Bool(&c.LDAPLookupDN, Setting{Flag: "ldap-lookup-dn", Env: []string{"LABHUB_LDAP_LOOKUP_DN", "LDAP_lookup_dn"}, Group: g,
		Usage: "Find the user's DN by a search instead of the templates (Active Directory); on by itself when a search user is set and no template is."})
	s.String(&c.LDAPSearchUser, Setting{Flag: "ldap-search-user", Env: []string{"LABHUB_LDAP_SEARCH_USER", "LDAP_lookup_dn_search_user"}, Group: g,
		Usage: "DN of the account that searches for users; empty searches anonymously."})
	s.String(&c.LDAPSearchPass, Setting{Flag: "ldap-search-password", Env: []string{"LABHUB_LDAP_SEARCH_PASSWORD", "LDAP_lookup_dn_search_password"}, Secret: true, Group: g,
		Usage: "Password of the search account."})
	s.String(&c.LDAPSearchBase, Setting{Flag: "ldap-user-search-base", Env: []string{"LABHUB_LDAP_USER_SEARCH_BASE", "LDAP_user_search_base"}, Group: g,
		Usage: "Where users are searched for (e.g. ou=people,dc=example,dc=org)."})
	s.String(&c.LDAPUserAttr, Setting{Flag: "ldap-user-attribute", Env: []string{"LABHUB_LDAP_USER_ATTRIBUTE", "LDAP_user_attribute"}, Group: g,
		Usage: "Attribute holding the login name (uid, or sAMAccountName on Active Directory)."})
	s.String(&c.LDAPLookupFilter, Setting{Flag: "ldap-lookup-filter", Env: []string{"LABHUB_LDAP_LOOKUP_FILTER", "LDAP_lookup_dn_search_filter"}, Default: "({login_attr}={login})", Group: g,
		Usage: "Filter that finds the user when looking up DNs; {login} is escaped per RFC 4515."})
	s.String(&c.LDAPUsernameAttr, Setting{Flag: "ldap-username-attribute", Env: []string{"LABHUB_LDAP_USERNAME_ATTRIBUTE", "LDAP_lookup_dn_user_dn_attribute"}, Group: g,
		Usage: "Attribute of the user's entry whose value becomes the Labhub username; empty keeps the login name."})
	s.String(&c.LDAPSearchFilter, Setting{Flag: "ldap-search-filter", Env: []string{"LABHUB_LDAP_SEARCH_FILTER", "LDAP_search_filter"}, Group: g,
		Usage: "Filter that must match exactly one entry under the search base after the bind ({userattr}, {username} escaped); empty skips it."})
	s.String(&c.LDAPGroups, Setting{Flag: "ldap-allowed-groups", Env: []string{"LABHUB_LDAP_ALLOWED_GROUPS", "LDAP_allowed_groups"}, Group: g,
		Usage: "`;`-separated group DNs whose members may log in (member, uniqueMember, memberUid or the user's memberOf); empty allows every directory user."})
	s.String(&c.LDAPUsernameRegex, Setting{Flag: "ldap-valid-username-regex", Env: []string{"LABHUB_LDAP_VALID_USERNAME_REGEX", "LDAP_valid_username_regex"}, Default: "^[a-z][.a-z0-9_-]*$", Group: g,
		Usage: "Pattern a login name must match before it is sent to the server."})
	s.String(&c.LDAPEmailAttr, Setting{Flag: "ldap-email-attribute", Env: []string{"LABHUB_LDAP_EMAIL_ATTRIBUTE"}, Default: "mail", Group: g,
		Usage: "Attribute holding the user's email address (used by --link-accounts email)."})
}

// validate checks the settings and derives Native and LDAP.
func (c *AccountSettings) validate() error {
	c.Native, c.LDAP = false, false
	for _, m := range strings.FieldsFunc(strings.ToLower(c.AuthMode), func(r rune) bool {
		return r == ',' || r == '+' || r == ' ' || r == ';'
	}) {
		switch strings.TrimSuffix(m, "authenticator") {
		case "lti", "":
		case "native":
			c.Native = true
		case "ldap":
			c.LDAP = true
		default:
			return fmt.Errorf("auth mode %q: use lti, native, ldap or native,ldap", c.AuthMode)
		}
	}
	switch c.Signup {
	case "off", "approval", "open":
	default:
		return fmt.Errorf("signup %q: use approval, open or off", c.Signup)
	}
	switch c.Link {
	case "none", "username", "email":
	default:
		return fmt.Errorf("link-accounts %q: use none, username or email", c.Link)
	}
	if c.PasswordMinLen < 1 || c.PasswordScore < 0 || c.PasswordScore > 4 {
		return fmt.Errorf("password minimum length must be at least 1 and score between 0 and 4")
	}
	if c.MaxFailures < 0 || c.MaxAddrFailures < 0 {
		return fmt.Errorf("login failure limits must not be negative")
	}
	switch strings.ToLower(c.LDAPTLS) {
	case "on_connect", "ldaps":
		c.LDAPTLS = "ldaps"
	case "before_bind", "starttls", "":
		c.LDAPTLS = "starttls"
	case "insecure", "plain":
		c.LDAPTLS = "plain"
	default:
		return fmt.Errorf("ldap tls %q: use ldaps, starttls or plain", c.LDAPTLS)
	}
	if _, err := regexp.Compile(c.LDAPUsernameRegex); err != nil {
		return fmt.Errorf("ldap valid username regex: %w", err)
	}
	if c.LDAP {
		if c.LDAPAddress == "" {
			return fmt.Errorf("auth mode ldap needs the server address (LDAP_server_address)")
		}
		if !c.LDAPLookupDN && len(c.BindTemplates()) == 0 && c.LDAPSearchUser != "" {
			c.LDAPLookupDN = true
		}
	}
	return nil
}

// BindTemplates returns the `;`-separated bind DN templates.
func (c *AccountSettings) BindTemplates() []string { return splitSemicolons(c.LDAPBindTemplates) }

// AllowedGroups returns the `;`-separated allowed group DNs.
func (c *AccountSettings) AllowedGroups() []string { return splitSemicolons(c.LDAPGroups) }

func splitSemicolons(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ";") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
