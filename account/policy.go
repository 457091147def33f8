package account

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// maxNameLen bounds login names in characters, as usernames are bounded.
const maxNameLen = 100

// Normalize returns the canonical form of a login name: Unicode NFC, lower
// case, surrounding space removed, the same rules Labhub applies to every
// username.
func Normalize(name string) string {
	return norm.NFC.String(strings.ToLower(norm.NFC.String(strings.TrimSpace(name))))
}

// ValidNewName reports whether a normalised name may be chosen at sign-up:
// letters, digits, ".", "_", "-" and "@", starting with a letter or digit.
func ValidNewName(name string) bool {
	if name == "" || utf8.RuneCountInString(name) > maxNameLen {
		return false
	}
	for i, r := range name {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
		case i > 0 && (r == '.' || r == '_' || r == '-' || r == '@'):
		default:
			return false
		}
	}
	return true
}

// Userlist is the old deployment's userlist file: one user a line, the
// name followed by "admin" for administrators.
type Userlist struct {
	// Allowed holds every listed name; Admins the administrators.
	Allowed map[string]bool
	Admins  map[string]bool
}

// ReadUserlist parses a userlist. Blank lines and lines starting with "#"
// are skipped; a line with anything but a name and an optional "admin" is
// an error naming the line.
func ReadUserlist(r io.Reader) (*Userlist, error) {
	ul := &Userlist{Allowed: map[string]bool{}, Admins: map[string]bool{}}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) > 2 || (len(f) == 2 && !strings.EqualFold(f[1], "admin")) {
			return nil, fmt.Errorf("userlist line %d: want \"name\" or \"name admin\", got %q", n, line)
		}
		name := Normalize(f[0])
		ul.Allowed[name] = true
		if len(f) == 2 {
			ul.Admins[name] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read userlist: %w", err)
	}
	return ul, nil
}

// LoadUserlist reads the userlist file at path; an empty path means no
// userlist.
func LoadUserlist(path string) (*Userlist, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open userlist: %w", err)
	}
	defer f.Close()
	return ReadUserlist(f)
}

// Policy says who may log in and who is an administrator, whatever the
// login method.
type Policy struct {
	// Userlist, when not nil, limits native and LDAP logins to its names
	// and makes its admins administrators.
	Userlist *Userlist
	// Blocked names can never log in by any method.
	Blocked map[string]bool
}

// IsBlocked reports whether any of names is blocked.
func (p *Policy) IsBlocked(names ...string) bool {
	if p == nil {
		return false
	}
	for _, n := range names {
		if p.Blocked[Normalize(n)] {
			return true
		}
	}
	return false
}

// Allowed reports whether a fallback login (native or LDAP) of name is
// allowed: not blocked, and listed when there is a userlist.
func (p *Policy) Allowed(name string) bool {
	if p == nil {
		return true
	}
	name = Normalize(name)
	if p.Blocked[name] {
		return false
	}
	return p.Userlist == nil || p.Userlist.Allowed[name]
}

// IsAdmin reports whether the userlist makes name an administrator.
func (p *Policy) IsAdmin(name string) bool {
	return p != nil && p.Userlist != nil && p.Userlist.Admins[Normalize(name)]
}

// ParseNames splits a comma- or space-separated list of names.
func ParseNames(s string) map[string]bool {
	out := map[string]bool{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
		out[Normalize(f)] = true
	}
	return out
}
