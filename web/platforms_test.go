package web_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lms"
	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/registry"
	"github.com/labhub/labhub/store"
)

// enrolled returns the course's enrollments by username.
func (h *harness) enrolled(slug string) map[string]string {
	h.t.Helper()
	var rows []struct{ Name, Role string }
	require.NoError(h.t, h.db.Table("enrollments").Select("users.name AS name, enrollments.role AS role").
		Joins("JOIN users ON users.id = enrollments.user_id").Joins("JOIN courses ON courses.id = enrollments.course_id").
		Where("courses.slug = ?", slug).Scan(&rows).Error)
	out := map[string]string{}
	for _, r := range rows {
		out[r.Name] = r.Role
	}
	return out
}

// A teacher's launch syncs the course roster in the background, page by
// page, so the course lists students who have not launched yet; a
// student's launch does not.
func TestRosterSyncAfterTeacherLaunch(t *testing.T) {
	h := newHarnessWith(t, harnessOptions{roster: true, rosterPage: 2})
	for i := range 5 {
		h.platform.AddMember(crs, lms.User{ID: fmt.Sprint(20 + i), GivenName: "S", FamilyName: fmt.Sprint(i),
			Email: fmt.Sprintf("s%d@example.invalid", i)}, nil)
	}
	h.platform.AddMember(crs, lms.User{ID: "30", Roles: []string{lms.RoleSysAdmin}}, nil)

	resp, err := h.browser().LaunchLTI13(context.Background(), learner, crs, link, h.clientID)
	require.NoError(t, err)
	resp.Body.Close()
	h.roster.Wait()
	require.Zero(t, h.platform.TokenRequests(), "a student's launch syncs nothing")

	resp, err = h.browser().LaunchLTI13(context.Background(), teacherUser, crs, link, h.clientID)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "the launch does not wait for the sync")
	h.roster.Wait()
	got := h.enrolled("lti101")
	require.Equal(t, map[string]string{"student1": store.RoleLearner, "teacher1": store.RoleInstructor,
		"u20": store.RoleLearner, "u21": store.RoleLearner, "u22": store.RoleLearner, "u23": store.RoleLearner,
		"u24": store.RoleLearner, "u30": store.RoleLearner}, got)
	require.Equal(t, 1, h.platform.TokenRequests())

	// A student the roster brought in gets their LMS username at their
	// first launch.
	resp, err = h.browser().LaunchLTI13(context.Background(), lms.User{ID: "21", Username: "kim", GivenName: "Kim"},
		crs, link, h.clientID)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "/hub/spawn-pending/kim/lti101", resp.Header.Get("Location"))
	require.NotContains(t, h.enrolled("lti101"), "u21")
}

// Canvas: every hosted instance launches with one issuer; the client id
// tells them apart, and the login names the deployment as deployment_id.
// A login without client_id works through the registration's own login
// URL.
func TestCanvasSharedIssuer(t *testing.T) {
	h := newHarnessWith(t, harnessOptions{lms: lms.Options{TokenIssuer: "https://canvas.instructure.com",
		LoginDeploymentParam: "deployment_id"}})
	ctx := context.Background()
	// A second institution on the same issuer.
	other, err := lms.New(lms.Options{TokenIssuer: "https://canvas.instructure.com", LoginDeploymentParam: "deployment_id"})
	require.NoError(t, err)
	srv := httptest.NewServer(other.Handler())
	t.Cleanup(srv.Close)
	other.SetIssuer(srv.URL)
	otherClient := "10000000000002"
	otherReg, err := h.registry.PutPlatform(ctx, registry.PlatformInput{Issuer: "https://canvas.instructure.com",
		ClientID: otherClient, AuthURL: srv.URL + "/mod/lti/auth.php", JWKSURL: srv.URL + "/mod/lti/certs.php",
		Deployments: []string{"7"}})
	require.NoError(t, err)
	other.AddTool(lms.Tool{ClientID: otherClient, DeploymentID: "7", LoginURL: h.hub.URL + "/lti/login",
		RedirectURIs: []string{h.hub.URL + "/lti/launch"}, TargetLinkURI: h.hub.URL + "/lti/launch"})

	resp, err := h.browser().LaunchLTI13(ctx, learner, crs, link, h.clientID)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "/hub/spawn-pending/student1/lti101", resp.Header.Get("Location"))
	resp, err = (&lms.Browser{Client: h.client(), Platform: other}).LaunchLTI13(ctx, learner, crs, link, otherClient)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/hub/spawn-pending/student1-2/lti101-2", resp.Header.Get("Location"),
		"the same user and course ids of another institution are other people and courses")

	// Without client_id the shared issuer is ambiguous: the page says what
	// to do; the registration's own login URL works.
	action, form, err := other.LoginInitiation(learner, crs, link, otherClient)
	require.NoError(t, err)
	form.Del("client_id")
	status, body, _ := post(t, h.client(), action, form)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "<code>unknown_platform</code>")
	require.Contains(t, body, "/lti/login/&lt;id&gt;")
	status, _, resp = post(t, h.client(), h.hub.URL+"/lti/login/"+fmt.Sprint(otherReg.ID), form)
	require.Equal(t, http.StatusFound, status)
	require.True(t, strings.HasPrefix(resp.Header.Get("Location"), srv.URL+"/mod/lti/auth.php?"))
	// A registration's login URL sends every login to that registration.
	status, _, resp = post(t, h.client(), h.hub.URL+"/lti/login/1", form)
	require.Equal(t, http.StatusFound, status)
	require.True(t, strings.HasPrefix(resp.Header.Get("Location"), h.lmsURL+"/mod/lti/auth.php?"))
	// One of a registration of another issuer is refused.
	form.Set("iss", "https://other.example")
	status, _, _ = post(t, h.client(), h.hub.URL+"/lti/login/"+fmt.Sprint(otherReg.ID), form)
	require.Equal(t, http.StatusBadRequest, status)
}

// Blackboard: one client id for every institution, each a deployment, and
// roles as LTI 1.1 URNs. Unknown deployments are refused until the
// registration accepts new ones.
func TestBlackboardDeployments(t *testing.T) {
	h := newHarnessWith(t, harnessOptions{lms: lms.Options{TokenIssuer: "https://blackboard.com", RoleURNs: true}})
	ctx := context.Background()
	instA := lms.Course{ID: "bio", Label: "BIO", Title: "Biology", Deployment: "1"}
	instB := lms.Course{ID: "chem", Label: "CHEM", Title: "Chemistry", Deployment: "institution-b"}
	resp, err := h.browser().LaunchLTI13(ctx, teacherUser, instA, link, h.clientID)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "/hub/spawn-pending/teacher1/bio", resp.Header.Get("Location"))
	require.Equal(t, store.RoleInstructor, h.enrolled("bio")["teacher1"], "URN roles are read")

	before, calls := h.counts(), h.docker.Calls()
	resp, err = h.browser().LaunchLTI13(ctx, teacherUser, instB, link, h.clientID)
	require.NoError(t, err)
	body := readBody(t, resp)
	h.expectRejected(t, resp.StatusCode, body, before, calls, "unknown_deployment")
	require.Contains(t, body, "&#34;institution-b&#34;", "the administrator sees which deployment id to add")

	ps, err := h.registry.Platforms(ctx)
	require.NoError(t, err)
	require.NoError(t, h.registry.SetDeploymentPolicy(ctx, ps[0].ID, registry.PolicyAdd))
	resp, err = h.browser().LaunchLTI13(ctx, teacherUser, instB, link, h.clientID)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "/hub/spawn-pending/teacher1/chem", resp.Header.Get("Location"))
	p, err := h.registry.Platform(ctx, "https://blackboard.com", h.clientID)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"1", "institution-b"}, p.Deployments)
}

// Brightspace: service tokens need the platform's own audience, and the
// platform's keys rotate every hour: each rotation costs one keyset fetch,
// however many launches arrive with the new key, and made-up key ids cost
// none.
func TestBrightspaceAudienceAndHourlyKeys(t *testing.T) {
	const aud = "https://api.brightspace.com/auth/token"
	keys := &lti.KeySetCache{}
	h := newHarnessWith(t, harnessOptions{lms: lms.Options{TokenAudience: aud}, tokenAudience: aud,
		roster: true, keyCache: keys})
	keys.Now = h.Now
	ctx := context.Background()

	resp, err := h.browser().LaunchLTI13(ctx, teacherUser, crs, link, h.clientID)
	require.NoError(t, err)
	resp.Body.Close()
	h.roster.Wait()
	require.Contains(t, h.enrolled("lti101"), "teacher1")
	require.Equal(t, 1, h.platform.TokenRequests())
	require.Equal(t, 1, h.platform.CertsRequests())

	for hour := 1; hour <= 3; hour++ {
		h.advance(time.Hour)
		require.NoError(t, h.platform.RotateKey())
		var wg sync.WaitGroup
		for i := range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := lms.User{ID: fmt.Sprint(100*hour + i), Username: fmt.Sprintf("s%d-%d", hour, i)}
				resp, err := h.browser().LaunchLTI13(ctx, u, crs, link, h.clientID)
				if !(err == nil && resp.StatusCode == http.StatusSeeOther) {
					t.Errorf("launch %d in hour %d: %v", i, hour, err)
				}
				if resp != nil {
					resp.Body.Close()
				}
			}()
		}
		wg.Wait()
		require.Equal(t, 1+hour, h.platform.CertsRequests(), "one fetch per rotation")
	}
	// Tokens with made-up key ids cause no fetch of their own.
	for i := range 5 {
		c := h.client()
		state, nonce := h.login13(c)
		tok := h.sign(h.claims(nonce))
		parts := strings.SplitN(tok, ".", 2)
		hdr := fmt.Sprintf(`{"alg":"RS256","typ":"JWT","kid":"made-up-%d"}`, i)
		forged := b64(hdr) + "." + parts[1]
		status, body, _ := post(t, c, h.hub.URL+"/lti/launch", url.Values{"id_token": {forged}, "state": {state}})
		require.Equal(t, http.StatusUnauthorized, status, body)
	}
	require.Equal(t, 4, h.platform.CertsRequests())

	// Registered without that audience, service calls fail.
	h2 := newHarnessWith(t, harnessOptions{lms: lms.Options{TokenAudience: aud}, roster: true})
	h2.platform.AddMember(crs, lms.User{ID: "77"}, nil)
	resp, err = h2.browser().LaunchLTI13(ctx, teacherUser, crs, link, h2.clientID)
	require.NoError(t, err)
	resp.Body.Close()
	h2.roster.Wait()
	require.Equal(t, 1, h2.platform.TokenRequests())
	require.NotContains(t, h2.enrolled("lti101"), "u77")
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func readBody(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}
