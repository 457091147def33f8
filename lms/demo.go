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
	p.mu.Lock()
	base := ""
	if p.issuer != nil {
		base = strings.TrimRight(p.issuer.EscapedPath(), "/")
	}
	p.mu.Unlock()
	render(w, http.StatusOK, "demo.html", struct {
		Base                string
		Course              Course
		Link                Link
		Student, Instructor User
		HasTool, HasLTI11   bool
	}{
		Base:       base,
		Course:     DemoCourse(),
		Link:       DemoLink(),
		Student:    DemoStudent(),
		Instructor: DemoInstructor(),
		HasTool:    ok && t.ClientID != "" && t.LoginURL != "",
		HasLTI11:   ok && t.ConsumerKey != "" && t.LTI11LaunchURL != "",
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
	action, form, err := p.loginInitiation(u, DemoCourse(), DemoLink(), t.ClientID)
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
