package course

import (
	"path"
	"strings"
	"unicode"
)

// maxStartPathLen bounds a starting notebook or folder path.
const maxStartPathLen = 500

// ValidStartPath checks a starting notebook or folder a teacher chose for an
// activity: a relative path inside the course's shared folder, such as
// "week1/lab.ipynb" or "week1/". It returns the path cleaned (no "./", no
// doubled slashes, a folder keeps its trailing slash), "" for "". A path
// that is absolute, climbs out with "..", uses backslashes or control
// characters, or is too long is refused: problem is then a sentence a
// teacher can act on.
func ValidStartPath(p string) (clean, problem string) {
	p = strings.TrimSpace(p)
	if p == "" {
		return "", ""
	}
	if len(p) > maxStartPathLen {
		return "", ("The starting notebook's path is too long.")
	}
	for _, r := range p {
		if unicode.IsControl(r) || r == '\\' {
			return "", ("The starting notebook's path may not contain backslashes or control characters; use / between folders.")
		}
	}
	if strings.HasPrefix(p, "/") || strings.HasPrefix(p, "~") {
		return "", ("Give the starting notebook's path relative to the course's shared folder, without a leading / or ~.")
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "", ("The starting notebook must be inside the course's shared folder; the path may not contain \"..\".")
		}
	}
	folder := strings.HasSuffix(p, "/")
	clean = path.Clean(p)
	if clean == "." {
		return "", ""
	}
	if folder {
		clean += "/"
	}
	return clean, ""
}
