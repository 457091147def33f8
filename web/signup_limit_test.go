package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/account"
)

// Sign-ups count against the client address's limit as failed logins do:
// past it, the address waits, and after the lockout it may sign up again.
func TestSignupRateLimitedPerAddress(t *testing.T) {
	h := newAccountsHub(t, account.Options{Native: true, Signup: account.SignupOpen,
		Throttle: account.ThrottleOptions{AccountFailures: 3, AddressFailures: 3, Lockout: 10 * time.Minute}})
	c := h.client()
	signup := func(name string) (int, string, *http.Response) {
		return h.submit(c, "/hub/signup", "/hub/signup", url.Values{"username": {name},
			"password": {alicePassword}, "password_confirmation": {alicePassword}})
	}
	status, _, _ := signup("taken")
	require.Equal(t, http.StatusCreated, status)
	status, _, _ = signup("taken")
	require.Equal(t, http.StatusBadRequest, status, "a refused sign-up counts too")
	status, _, _ = signup("user2")
	require.Equal(t, http.StatusCreated, status)
	status, body, resp := signup("user3")
	require.Equal(t, http.StatusTooManyRequests, status)
	require.Contains(t, body, "Too many sign-ups")
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	status, _, _ = h.loginAs(h.client(), "taken", alicePassword)
	require.Equal(t, http.StatusTooManyRequests, status, "the same address limit covers logins")

	h.clock.Add(11 * time.Minute)
	status, body, _ = signup("user3")
	require.Equal(t, http.StatusCreated, status, fmt.Sprint(body))
}
