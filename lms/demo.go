package lms

import (
	"net/http"
	"strings"
)

// DemoStudent returns the student account of the demo page.
func DemoStudent() User {
	return User{
		ID: "3", Username: "demo-student", GivenName: "Sam", FamilyName: "Student",
		Email: "demo-student@example.invalid", Roles: []string{RoleLearner},
	}
}

// DemoInstructor returns the instructor account of the demo page.
func DemoInstructor() User {
	return User{
		ID: "2", Username: "demo-teacher", GivenName: "Terry", FamilyName: "Teacher",
		Email: "demo-teacher@example.invalid", Roles: []string{RoleInstructor},
	}
}

// DemoCourse returns the course of the demo page.
func DemoCourse() Course {
	return Course{ID: "2", Label: "DEMO101", Title: "Demo course"}
}

// DemoLink returns the activity of the demo page. It has a gradebook
// column, so grades sent back by the tool can be seen with Grade.
func DemoLink() Link {
	return Link{ID: "1", Title: "Jupyter notebook", LineItem: true}
}

// demoTool returns the first registered tool, which the demo page launches.
func (p *Platform) demoTool() (Tool, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.tools) == 0 {
		return Tool{}, false
	}
	return *p.tools[0], true
}

// handleDemoPage renders the demo course with its launch buttons.
func (p *Platform) handleDemoPage(w http.ResponseWriter, r *http.Request) {
	t, ok := p.demoTool()
	render(w, http.StatusOK, "demo.html", struct {
		Base                string
		Course              Course
		Link                Link
		Added               []Link
		Student, Instructor User
		HasTool, HasLTI11   bool
	}{
		Base:       p.demoBase(),
		Course:     DemoCourse(),
		Link:       DemoLink(),
		Added:      p.demoLinks(),
		Student:    DemoStudent(),
		Instructor: DemoInstructor(),
		HasTool:    ok && t.ClientID != "" && t.LoginURL != "",
		HasLTI11:   ok && t.ConsumerKey != "" && t.LTI11LaunchURL != "",
	})
}

// demoBase returns the path the demo page is served at: the issuer's path.
func (p *Platform) demoBase() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.issuer == nil {
		return ""
	}
	return strings.TrimRight(p.issuer.EscapedPath(), "/")
}

// demoPath returns the demo page's path when courseID is the demo course,
// else "".
func (p *Platform) demoPath(courseID string) string {
	if courseID != DemoCourse().ID {
		return ""
	}
	return p.demoBase() + "/"
}

// demoLinks returns the demo course's activities added through deep
// linking that still launch the tool.
func (p *Platform) demoLinks() []Link {
	var out []Link
	for _, it := range p.DeepLinked() {
		if it.CourseID == DemoCourse().ID && !it.Detached {
			out = append(out, it.Link)
		}
	}
	return out
}

// demoLink returns the activity a launch button names: the demo activity,
// or one added through deep linking.
func (p *Platform) demoLink(r *http.Request) (Link, bool) {
	id := r.PostFormValue("link")
	if id == "" || id == DemoLink().ID {
		return DemoLink(), true
	}
	for _, l := range p.demoLinks() {
		if l.ID == id {
			return l, true
		}
	}
	return Link{}, false
}

// handleDemoAddActivity starts a deep linking request as the demo
// instructor, as Moodle does when a teacher adds the tool to a course and
// presses Select content.
func (p *Platform) handleDemoAddActivity(w http.ResponseWriter, r *http.Request) {
	t, ok := p.demoTool()
	if !ok || t.ClientID == "" {
		renderError(w, http.StatusNotFound, "No tool", "No LTI 1.3 tool is registered.")
		return
	}
	u := DemoInstructor()
	action, form, err := p.deepLinkingInitiation(u, DemoCourse(), t.ClientID)
	if err != nil {
		renderError(w, http.StatusInternalServerError, "Error", "The content selection could not be started.")
		return
	}
	http.SetCookie(w, p.Login(u))
	renderAutoSubmit(w, autoSubmit{
		Title: "Selecting content", FormID: "ltiInitiateLoginForm", Action: action, Fields: form,
		Message: "Press Continue to choose what the new activity opens.",
	})
}

// demoUser picks the demo account a launch button asked for.
func demoUser(r *http.Request) (User, bool) {
	switch r.PostFormValue("as") {
	case "student":
		return DemoStudent(), true
	case "instructor":
		return DemoInstructor(), true
	}
	return User{}, false
}

// handleDemoLaunch13 logs the chosen demo user in and answers with the
// auto-submitting login initiation, exactly as Moodle starts a launch.
func (p *Platform) handleDemoLaunch13(w http.ResponseWriter, r *http.Request) {
	u, ok := demoUser(r)
	if !ok {
		renderError(w, http.StatusBadRequest, "Invalid request", "Choose the student or the instructor.")
		return
	}
	t, ok := p.demoTool()
	if !ok || t.ClientID == "" {
		renderError(w, http.StatusNotFound, "No tool", "No LTI 1.3 tool is registered.")
		return
	}
	link, ok := p.demoLink(r)
	if !ok {
		renderError(w, http.StatusNotFound, "No such activity", "The demo course has no such activity.")
		return
	}
	action, form, err := p.loginInitiation(u, DemoCourse(), link, t.ClientID)
	if err != nil {
		renderError(w, http.StatusInternalServerError, "Error", "The launch could not be started.")
		return
	}
	http.SetCookie(w, p.Login(u))
	renderAutoSubmit(w, autoSubmit{
		Title: "Launching", FormID: "ltiInitiateLoginForm", Action: action, Fields: form,
		Message: "Press Continue to open the activity.",
	})
}

// handleDemoLaunch11 logs the chosen demo user in and answers with the
// auto-submitting signed LTI 1.1 launch.
func (p *Platform) handleDemoLaunch11(w http.ResponseWriter, r *http.Request) {
	u, ok := demoUser(r)
	if !ok {
		renderError(w, http.StatusBadRequest, "Invalid request", "Choose the student or the instructor.")
		return
	}
	t, ok := p.demoTool()
	if !ok || t.ConsumerKey == "" {
		renderError(w, http.StatusNotFound, "No tool", "No LTI 1.1 tool is registered.")
		return
	}
	action, form, err := p.SignLTI11(u, DemoCourse(), DemoLink(), t.ConsumerKey)
	if err != nil {
		renderError(w, http.StatusInternalServerError, "Error", "The launch could not be signed.")
		return
	}
	http.SetCookie(w, p.Login(u))
	renderAutoSubmit(w, autoSubmit{
		Title: "Launching", FormID: "ltiLaunchForm", Action: action, Fields: form,
		Message: "Press Continue to open the activity.",
	})
}
