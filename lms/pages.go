package lms

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// autoSubmit is the data of an auto-submitting form page.
type autoSubmit struct {
	Title   string
	FormID  string
	Action  string
	Fields  Form
	Message string
}

// renderAutoSubmit writes a page whose form posts itself on load, with a
// Continue button for browsers without JavaScript.
func renderAutoSubmit(w http.ResponseWriter, a autoSubmit) {
	if a.Title == "" {
		a.Title = "Redirecting"
	}
	if a.Message == "" {
		a.Message = "JavaScript is off. Press Continue to go on."
	}
	render(w, http.StatusOK, "autosubmit.html", a)
}

// renderError writes an error page like Moodle's "Invalid request" page.
func renderError(w http.ResponseWriter, status int, message, detail string) {
	render(w, status, "error.html", struct{ Message, Detail string }{message, detail})
}

func render(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		// The templates are embedded and their data is typed, so this is a
		// programming error; answer plainly rather than with half a page.
		http.Error(w, "template error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}
