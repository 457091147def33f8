package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/account"
	"github.com/labhub/labhub/lms"
	"github.com/labhub/labhub/store"
)

// A userlist administrator whose first LTI launch comes after the hub
// started is an administrator from that launch on, by either LTI version.
func TestUserlistAdminByLaunch(t *testing.T) {
	ul, err := account.ReadUserlist(strings.NewReader("teacher admin\nhelper admin\n"))
	require.NoError(t, err)
	h := newAccountsHub(t, account.Options{Native: true, Policy: &account.Policy{Userlist: ul, Blocked: account.ParseNames("root")}})
	// The policy is loaded and applied before either user exists.
	require.NoError(t, h.acc.ApplyAdmins(context.Background()))
	isAdmin := func(name string) bool {
		var u store.User
		require.NoError(t, h.db.Where("name = ?", name).First(&u).Error)
		return u.Admin
	}

	teacher := lms.User{ID: "7", Username: "teacher", Roles: []string{lms.RoleInstructor}}
	action, form, err := h.platform.SignLTI11(teacher, crs, link, h.key)
	require.NoError(t, err)
	status, _, _ := post(t, h.client(), action, form.Values())
	require.Equal(t, http.StatusSeeOther, status)
	require.True(t, isAdmin("teacher"), "an LTI 1.1 launch applies the userlist's admin flag")

	helper := lms.User{ID: "8", Username: "helper", Roles: []string{lms.RoleInstructor}}
	resp, err := h.browser().LaunchLTI13(context.Background(), helper, crs, link, h.clientID)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.True(t, isAdmin("helper"), "an LTI 1.3 launch applies the userlist's admin flag")

	// The userlist does not decide who may launch: the LMS does.
	action, values := h.signed11(nil)
	status, _, _ = post(t, h.client(), action, values)
	require.Equal(t, http.StatusSeeOther, status)
	require.False(t, isAdmin("student1"))
}
