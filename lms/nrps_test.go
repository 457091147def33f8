package lms

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

type membershipPage struct {
	ID      string         `json:"id"`
	Context map[string]any `json:"context"`
	Members []struct {
		Status     string   `json:"status"`
		Roles      []string `json:"roles"`
		UserID     string   `json:"user_id"`
		Name       string   `json:"name"`
		GivenName  string   `json:"given_name"`
		FamilyName string   `json:"family_name"`
		Email      string   `json:"email"`
		Message    []map[string]any
	} `json:"members"`
}

var nextLink = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

func TestMemberships(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{})
	tool := newFakeTool(t)
	reg := tool.registration("client-1")
	reg.DeploymentID = "3"
	p.AddTool(reg)
	admin := User{ID: "1", Username: "admin", GivenName: "Ada", FamilyName: "Admin",
		Roles: []string{RoleInstructor, RoleSysAdmin, RoleInstAdmin}}
	p.AddMember(course, admin, nil)
	p.AddMember(course, teacher, nil)
	for i := range 5 {
		p.AddMember(course, User{ID: fmt.Sprint(10 + i), Username: fmt.Sprintf("s%d", i),
			GivenName: "S", FamilyName: fmt.Sprint(i)}, nil)
	}
	// Enrolling again replaces the roles but keeps the position.
	p.AddMember(course, User{ID: "14", Username: "s4", GivenName: "S", FamilyName: "4"}, []string{RoleLearner})
	token := tool.accessToken(t, p, "client-1", ScopeMemberships)
	endpoint := p.Issuer() + "/mod/lti/services.php/CourseSection/2/bindings/3/memberships"

	get := func(t *testing.T, u, tok string) (int, http.Header, membershipPage) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, u, nil)
		require.NoError(t, err)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		req.Header.Set("Accept", mtMembershipContainer)
		status, h, body := do(t, nil, req)
		var page membershipPage
		if status == http.StatusOK {
			require.Equal(t, mtMembershipContainer, h.Get("Content-Type"))
			require.NoError(t, json.Unmarshal([]byte(body), &page), body)
		}
		return status, h, page
	}

	t.Run("all at once", func(t *testing.T) {
		t.Parallel()
		status, h, page := get(t, endpoint, token)
		require.Equal(t, 200, status)
		require.Empty(t, h.Get("Link"))
		require.Equal(t, endpoint, page.ID)
		require.Equal(t, map[string]any{"id": "2", "label": "LTI101", "title": "LTI Acceptance Course"}, page.Context)
		require.Len(t, page.Members, 7)
		// Moodle writes roles as short names, and administrators as a URI.
		require.Equal(t, "1", page.Members[0].UserID)
		require.Equal(t, []string{"Instructor", RolePersonAdmin}, page.Members[0].Roles)
		require.Equal(t, []string{"Instructor"}, page.Members[1].Roles)
		require.Equal(t, []string{"Learner"}, page.Members[2].Roles)
		require.Equal(t, "Active", page.Members[1].Status)
		require.Equal(t, "Terry Teacher", page.Members[1].Name)
		require.Equal(t, "teacher1@example.invalid", page.Members[1].Email)
	})

	t.Run("paging through Link rel=next", func(t *testing.T) {
		t.Parallel()
		var ids []string
		u := endpoint + "?limit=3"
		pages := 0
		for u != "" {
			status, h, page := get(t, u, token)
			require.Equal(t, 200, status)
			require.LessOrEqual(t, len(page.Members), 3)
			for _, m := range page.Members {
				ids = append(ids, m.UserID)
			}
			pages++
			u = ""
			if l := h.Get("Link"); l != "" {
				m := nextLink.FindStringSubmatch(l)
				require.NotNil(t, m, l)
				u = m[1]
			}
		}
		require.Equal(t, 3, pages)
		require.Equal(t, []string{"1", "3", "10", "11", "12", "13", "14"}, ids)
	})

	t.Run("role filter", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			role string
			want int
		}{
			{"Instructor", 2},
			{RoleInstructor, 2},
			{"Learner", 5},
			{RoleLearner, 5},
			{"Mentor", 7},
		} {
			status, _, page := get(t, endpoint+"?role="+url.QueryEscape(tc.role), token)
			require.Equal(t, 200, status)
			require.Len(t, page.Members, tc.want, tc.role)
		}
	})

	t.Run("resource link adds the outcome message", func(t *testing.T) {
		t.Parallel()
		p.LineItemURL(course, link, "client-1")
		status, _, page := get(t, endpoint+"?rlid=1&limit=1", token)
		require.Equal(t, 200, status)
		require.Len(t, page.Members[0].Message, 1)
		bo := page.Members[0].Message[0][ClaimBasicOutcome].(map[string]any)
		require.Equal(t, p.Issuer()+"/mod/lti/service.php", bo["lis_outcome_service_url"])
		status, _, _ = get(t, endpoint+"?rlid=404", token)
		require.Equal(t, 404, status)
	})

	t.Run("refusals", func(t *testing.T) {
		t.Parallel()
		scoreOnly := tool.accessToken(t, p, "client-1", ScopeScore)
		for _, tc := range []struct {
			name, u, token string
			want           int
		}{
			{"no token", endpoint, "", 403},
			{"token without the scope", endpoint, scoreOnly, 403},
			{"other tool binding", p.Issuer() + "/mod/lti/services.php/CourseSection/2/bindings/9/memberships", token, 404},
			{"unknown course", p.Issuer() + "/mod/lti/services.php/CourseSection/99/bindings/3/memberships", token, 404},
		} {
			status, _, _ := get(t, tc.u, tc.token)
			require.Equal(t, tc.want, status, tc.name)
		}
	})
}
