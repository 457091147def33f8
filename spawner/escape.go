package spawner

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

const (
	// maxEscaped is the longest escaped string Escape returns unchanged. It
	// keeps the longest combined name (HomeVolumeName of two bounded parts)
	// well under Docker's and the file system's limits.
	maxEscaped = 64
	// keepEscaped is how much of a too-long escaped string survives in front
	// of the hash.
	keepEscaped = 48
	// hashHexDigits is how many hex digits of SHA-256 identify a truncated
	// input: 128 bits, far beyond any realistic number of users.
	hashHexDigits = 32
)

const lowerHex = "0123456789abcdef"

// Escape turns any string (a username, a course slug) into a part of a Docker
// name that is safe and collision-free.
//
// It follows DockerSpawner's escaping (escapism with safe characters [a-z0-9]
// and escape character '-', then the whole result lower-cased): a-z and 0-9
// are kept and every other byte of the UTF-8 encoding becomes '-' followed by
// two lowercase hex digits, so "Alice" -> "-41lice", "a.b" -> "a-2eb",
// "a-b" -> "a-2db" and "é" -> "-c3-a9". Because '-' itself is always escaped,
// distinct inputs give distinct outputs, and the escaped part of a name that
// DockerSpawner created for a user can be recognised here.
//
// Names must stay short, so an escaped string longer than 64 bytes is
// replaced by its first 48 bytes, "--" and the first 32 hex digits of the
// SHA-256 of the input (82 bytes in all). "--" never occurs in an escaped
// string, so a shortened result cannot equal an unshortened one; two
// shortened results are equal only if the inputs share a 128-bit hash prefix.
// Shortened results no longer match DockerSpawner's unbounded names.
func Escape(s string) string {
	out, complete := escape(s, maxEscaped)
	if complete {
		return out
	}
	sum := sha256.Sum256([]byte(s))
	return out[:keepEscaped] + "--" + hex.EncodeToString(sum[:])[:hashHexDigits]
}

// escape applies DockerSpawner's escaping to s. With limit >= 0 it stops as
// soon as the result is longer than limit bytes, because only the first bytes
// and the fact that the result is too long matter then: a huge input costs no
// more than a short one. complete reports whether all of s was escaped.
func escape(s string, limit int) (out string, complete bool) {
	var b strings.Builder
	b.Grow(3 * min(len(s), maxEscaped))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' {
			b.WriteByte(c)
		} else {
			b.WriteByte('-')
			b.WriteByte(lowerHex[c>>4])
			b.WriteByte(lowerHex[c&0x0f])
		}
		if limit >= 0 && b.Len() > limit {
			return b.String(), false
		}
	}
	return b.String(), true
}

// ContainerName returns the name of the container of user's server under
// the default prefix (see Names.Container).
func ContainerName(user, server string) string { return Names{}.Container(user, server) }

// HomeVolumeName returns the name of the volume that holds user's home
// directory for server under the default prefix (see Names.Home).
func HomeVolumeName(user, server string) string { return Names{}.home(user, server) }

// SharedVolumeName returns the name of the volume a course shares with its
// members under the default prefix (see Names.Shared).
func SharedVolumeName(course string) string { return Names{}.Shared(course) }

// LegacyHomeVolumeName returns the name DockerSpawner's usual configuration
// ("jupyterhub-user-{username}") gave user's volume, so an old deployment's
// volume can be found and mounted. Unlike the other names it is not bounded in
// length, exactly as DockerSpawner built it.
func LegacyHomeVolumeName(user string) string {
	out, _ := escape(user, -1)
	return "jupyterhub-user-" + out
}

// VolumeFromTemplate renders a DockerSpawner-style volume name template:
// {username} becomes the escaped user name and {servername} (or {course})
// the escaped server name, both unbounded as DockerSpawner escaped them, so
// "jupyterhub-user-{username}" names the volumes an old deployment made. The
// result must be a valid volume name of at most 255 bytes.
func VolumeFromTemplate(template, user, server string) (string, error) {
	u, _ := escape(user, -1)
	s, _ := escape(server, -1)
	name := strings.NewReplacer("{username}", u, "{servername}", s, "{course}", s).Replace(template)
	if strings.ContainsAny(name, "{}") || !nameRE.MatchString(name) || len(name) > 255 {
		return "", fmt.Errorf("volume name template %q gives %q, which is not a volume name", template, name)
	}
	return name, nil
}
