package lms

import (
	"errors"
	"fmt"
	"html"
	"io"
	"net/url"
	"strings"
)

// Field is one name/value pair of an HTML form.
type Field struct{ Name, Value string }

// Form is an HTML form's fields in document order. Moodle's forms are
// ordered, and the order is part of what the tests compare.
type Form []Field

// Get returns the value of the first field called name, or "".
func (f Form) Get(name string) string {
	for _, fl := range f {
		if fl.Name == name {
			return fl.Value
		}
	}
	return ""
}

// Has reports whether a field called name exists.
func (f Form) Has(name string) bool {
	for _, fl := range f {
		if fl.Name == name {
			return true
		}
	}
	return false
}

// Set replaces the value of the first field called name, or appends one.
func (f *Form) Set(name, value string) {
	for i := range *f {
		if (*f)[i].Name == name {
			(*f)[i].Value = value
			return
		}
	}
	*f = append(*f, Field{name, value})
}

// Del removes every field called name.
func (f *Form) Del(name string) {
	out := (*f)[:0]
	for _, fl := range *f {
		if fl.Name != name {
			out = append(out, fl)
		}
	}
	*f = out
}

// Values returns the fields as url.Values, losing their order.
func (f Form) Values() url.Values {
	v := url.Values{}
	for _, fl := range f {
		v.Add(fl.Name, fl.Value)
	}
	return v
}

// Encode returns the fields as an application/x-www-form-urlencoded body in
// order.
func (f Form) Encode() string {
	var b strings.Builder
	for i, fl := range f {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(fl.Name))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(fl.Value))
	}
	return b.String()
}

// maxPageSize bounds how much of a page ParseAutoSubmitForm reads.
const maxPageSize = 4 << 20

// ErrNoForm is returned by ParseAutoSubmitForm for a page without a form.
var ErrNoForm = errors.New("no form in page")

// ParseAutoSubmitForm returns the action and the named input fields of the
// first form in an HTML page, as a browser would submit it. Such pages are
// how Moodle (and LTI tools) hand a browser on: the login initiation, the
// auth response, the LTI 1.1 launch. Attribute values are HTML-unescaped;
// action is returned as written, unresolved.
func ParseAutoSubmitForm(body io.Reader) (action string, fields url.Values, err error) {
	b, err := io.ReadAll(io.LimitReader(body, maxPageSize))
	if err != nil {
		return "", nil, fmt.Errorf("read page: %w", err)
	}
	pf, err := parseFirstForm(string(b))
	if err != nil {
		return "", nil, err
	}
	return pf.action, pf.fields.Values(), nil
}

// pageForm is the first form of a page.
type pageForm struct {
	action, id string
	fields     Form
}

// parseFirstForm scans page for the first <form> and its inputs. It is a
// small tag scanner rather than a full HTML parser: it understands comments,
// quoted and unquoted attributes, and skips script and style contents, which
// is all that auto-submitting pages use.
func parseFirstForm(page string) (pageForm, error) {
	var (
		inForm bool
		pf     pageForm
	)
	for i := 0; i < len(page); {
		lt := strings.IndexByte(page[i:], '<')
		if lt < 0 {
			break
		}
		i += lt
		if strings.HasPrefix(page[i:], "<!--") {
			end := strings.Index(page[i+4:], "-->")
			if end < 0 {
				break
			}
			i += 4 + end + 3
			continue
		}
		t, next := scanTag(page, i)
		i = next
		if t.name == "" {
			continue
		}
		switch {
		case !t.closing && (t.name == "script" || t.name == "style"):
			// Markup inside scripts is text, not tags.
			end := strings.Index(strings.ToLower(page[i:]), "</"+t.name)
			if end < 0 {
				i = len(page)
			} else {
				i += end
			}
		case t.name == "form" && !t.closing && !inForm:
			inForm, pf.action, pf.id = true, t.attrs["action"], t.attrs["id"]
		case t.name == "form" && t.closing && inForm:
			return pf, nil
		case t.name == "input" && inForm && !t.closing:
			if f, ok := inputField(t); ok {
				pf.fields = append(pf.fields, f)
			}
		}
	}
	if !inForm {
		return pageForm{}, ErrNoForm
	}
	// An unclosed form still submits what it contains.
	return pf, nil
}

// inputField returns the field an <input> contributes to a submission.
func inputField(t tag) (Field, bool) {
	name, ok := t.attrs["name"]
	if !ok || name == "" {
		return Field{}, false
	}
	if _, disabled := t.attrs["disabled"]; disabled {
		return Field{}, false
	}
	switch strings.ToLower(t.attrs["type"]) {
	case "submit", "button", "reset", "image", "file":
		return Field{}, false
	case "checkbox", "radio":
		if _, checked := t.attrs["checked"]; !checked {
			return Field{}, false
		}
		if _, ok := t.attrs["value"]; !ok {
			return Field{name, "on"}, true
		}
	}
	return Field{name, t.attrs["value"]}, true
}

// tag is a scanned start or end tag.
type tag struct {
	name    string // lower case; "" when the text after '<' is not a tag
	closing bool
	attrs   map[string]string
}

// scanTag reads the tag starting at page[i] == '<' and returns it with the
// index just after it.
func scanTag(page string, i int) (tag, int) {
	j := i + 1
	var t tag
	if j < len(page) && page[j] == '/' {
		t.closing = true
		j++
	}
	start := j
	for j < len(page) && isNameChar(page[j]) {
		j++
	}
	if j == start || !isLetter(page[start]) {
		return tag{}, i + 1 // a stray '<' in text
	}
	t.name = strings.ToLower(page[start:j])
	t.attrs = map[string]string{}
	for j < len(page) {
		for j < len(page) && isSpace(page[j]) {
			j++
		}
		if j >= len(page) {
			break
		}
		if page[j] == '>' {
			return t, j + 1
		}
		if page[j] == '/' {
			j++
			continue
		}
		ns := j
		for j < len(page) && !isSpace(page[j]) && page[j] != '=' && page[j] != '>' && page[j] != '/' {
			j++
		}
		name := strings.ToLower(page[ns:j])
		for j < len(page) && isSpace(page[j]) {
			j++
		}
		if j >= len(page) || page[j] != '=' {
			if _, dup := t.attrs[name]; !dup && name != "" {
				t.attrs[name] = ""
			}
			continue
		}
		j++ // '='
		for j < len(page) && isSpace(page[j]) {
			j++
		}
		var val string
		if j < len(page) && (page[j] == '"' || page[j] == '\'') {
			q := page[j]
			end := strings.IndexByte(page[j+1:], q)
			if end < 0 {
				val, j = page[j+1:], len(page)
			} else {
				val, j = page[j+1:j+1+end], j+1+end+1
			}
		} else {
			vs := j
			for j < len(page) && !isSpace(page[j]) && page[j] != '>' {
				j++
			}
			val = page[vs:j]
		}
		// As in browsers, the first of duplicated attributes wins.
		if _, dup := t.attrs[name]; !dup && name != "" {
			t.attrs[name] = html.UnescapeString(val)
		}
	}
	return t, len(page)
}

func isLetter(c byte) bool   { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isNameChar(c byte) bool { return isLetter(c) || c >= '0' && c <= '9' || c == '-' }
func isSpace(c byte) bool    { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }
