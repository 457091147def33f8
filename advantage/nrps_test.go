package advantage_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/advantage"
	"github.com/labhub/labhub/lms"
	"github.com/labhub/labhub/lti"
)

func TestRosterPagesThroughMemberships(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := lms.Course{ID: "2", Label: "LTI101", Title: "Course"}
	f.platform.AddMember(c, lms.User{ID: "3", Username: "teacher1", GivenName: "Terry", FamilyName: "Teacher",
		Roles: []string{lms.RoleInstructor}}, nil)
	for i := range 5 {
		f.platform.AddMember(c, lms.User{ID: fmt.Sprint(10 + i), GivenName: "S", FamilyName: fmt.Sprint(i),
			Email: fmt.Sprintf("s%d@example.invalid", i)}, nil)
	}
	f.platform.AddMember(c, lms.User{ID: "99", Roles: []string{lms.RoleSysAdmin}}, nil)
	url := f.reg.Issuer + "/mod/lti/services.php/CourseSection/2/bindings/1/memberships"

	r := &advantage.Roster{Tokens: f.tokens, PageSize: 2}
	members, err := r.Members(ctx, f.reg, url)
	require.NoError(t, err)
	require.Len(t, members, 7, "every page is read")
	require.Equal(t, "3", members[0].UserID)
	require.Equal(t, lti.RoleInstructor, members[0].Launch(lti.RoleMapping{}).Roles.Course)
	require.Equal(t, lti.RoleLearner, members[1].Launch(lti.RoleMapping{}).Roles.Course)
	require.Equal(t, "s0@example.invalid", members[1].Email)
	require.Equal(t, 1, f.platform.TokenRequests(), "one token for all pages")

	// A platform that forgot its tokens gets asked for a new one once.
	f.platform.RevokeTokens()
	members, err = r.Members(ctx, f.reg, url)
	require.NoError(t, err)
	require.Len(t, members, 7)
	require.Equal(t, 2, f.platform.TokenRequests())

	_, err = r.Members(ctx, f.reg, f.reg.Issuer+"/mod/lti/services.php/CourseSection/404/bindings/1/memberships")
	require.Error(t, err)
	require.True(t, advantage.IsPermanent(err))
	_, err = r.Members(ctx, f.reg, "ftp://x")
	require.True(t, advantage.IsPermanent(err))
}
