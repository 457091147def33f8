package spawner

import (
	"fmt"
	"regexp"
	"strings"
)

// DefaultPrefix starts the names of a hub's Docker objects unless it is
// given another.
const DefaultPrefix = "labhub"

// prefixRE is what a prefix may be: no dash, so that a prefix cannot make
// one hub's names look like another's.
var prefixRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,19}$`)

// Names builds the names of one hub's containers and volumes; it is the only
// place they are built. Two hubs on one engine need different prefixes,
// since names are global on the engine.
type Names struct {
	// Prefix starts every name; "" means DefaultPrefix.
	Prefix string
	// HomeTemplate, if set, names home volumes instead (see
	// VolumeFromTemplate), for volumes of an old deployment.
	HomeTemplate string
}

// ValidPrefix checks a name prefix.
func ValidPrefix(p string) error {
	if !prefixRE.MatchString(p) {
		return fmt.Errorf("name prefix %q must be a lower-case letter followed by up to 19 letters and digits", p)
	}
	return nil
}

func (n Names) prefix() string {
	if n.Prefix == "" {
		return DefaultPrefix
	}
	return n.Prefix
}

// Container returns the name of the container of user's server (a course
// slug, or any other server name). "--" separates the two parts because it
// cannot occur inside an unshortened escaped part, and the fixed length of a
// shortened part keeps the split unambiguous.
func (n Names) Container(user, server string) string {
	return n.prefix() + "-" + Escape(user) + "--" + Escape(server)
}

// Home returns the name of the volume that holds user's home directory for
// server: by HomeTemplate when set, else one volume per user and server.
func (n Names) Home(user, server string) (string, error) {
	if n.HomeTemplate != "" {
		return VolumeFromTemplate(n.HomeTemplate, user, server)
	}
	return n.home(user, server), nil
}

// HomesPerServer reports whether every server of a user has a home volume
// of its own. It does not when HomeTemplate names no server ({servername} or
// {course}): then one volume holds the user's work from every course.
func (n Names) HomesPerServer() bool {
	return n.HomeTemplate == "" || strings.Contains(n.HomeTemplate, "{servername}") ||
		strings.Contains(n.HomeTemplate, "{course}")
}

func (n Names) home(user, server string) string {
	return n.prefix() + "-home-" + Escape(user) + "--" + Escape(server)
}

// Shared returns the name of the volume a course shares with its members.
func (n Names) Shared(course string) string {
	return n.prefix() + "-shared-" + Escape(course)
}

// Handins returns the name of the volume that keeps a course's hand-ins:
// read-only copies of students' files, mounted read-only in the servers of
// the course's instructors.
func (n Names) Handins(course string) string {
	return n.prefix() + "-handins-" + Escape(course)
}
