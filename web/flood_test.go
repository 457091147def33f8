package web_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// A flood of forged launches — LTI 1.1 and LTI 1.3, every one with a fresh
// nonce and a bad signature, so none may be remembered — and of login
// initiations, which anyone may send, leaves memory and the database as they
// were. Each LTI 1.3 launch follows its own login and carries its state and
// cookie, so it reaches signature verification.
func TestFloodLeavesMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 225,000 requests")
	}
	h := newHarness(t)
	_, form := h.signed11(nil)
	form.Set("oauth_signature", "Zm9yZ2Vk")
	loginAction, login, err := h.platform.LoginInitiation(learner, crs, link, h.clientID)
	require.NoError(t, err)
	path := strings.TrimPrefix(loginAction, h.hub.URL)
	// A forged id_token: the platform's header and signature over other
	// claims, so no token needs signing in the loop.
	parts := strings.Split(h.sign(h.claims("n")), ".")
	claims := h.claims("")
	before := h.counts()

	send := func(i int) {
		form.Set("oauth_nonce", "flood-"+strconv.Itoa(i))
		req := httptest.NewRequest(http.MethodPost, "/hub/lti/launch", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("request %d: status %d", i, rec.Code)
		}
		req = httptest.NewRequest(http.MethodPost, path, strings.NewReader(login.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec = httptest.NewRecorder()
		h.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusFound {
			t.Fatalf("login %d: status %d", i, rec.Code)
		}
		if i%4 != 0 {
			// Every fourth login goes on to a launch: fewer LTI 1.3
			// launches keep the test within a minute on two cores, each
			// costing a registration lookup in the database.
			return
		}
		loc, err := url.Parse(rec.Header().Get("Location"))
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
		claims["nonce"] = loc.Query().Get("nonce")
		payload, err := json.Marshal(claims)
		if err != nil {
			t.Fatalf("launch %d: %v", i, err)
		}
		launch := url.Values{"state": {loc.Query().Get("state")},
			"id_token": {parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]}}
		req = httptest.NewRequest(http.MethodPost, "/lti/launch", strings.NewReader(launch.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, ck := range rec.Result().Cookies() {
			req.AddCookie(ck)
		}
		rec = httptest.NewRecorder()
		h.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "bad_signature") {
			t.Fatalf("launch %d: status %d", i, rec.Code)
		}
	}
	const warmup, total = 10_000, 100_000
	for i := 0; i < warmup; i++ {
		send(i)
	}
	base := heapAfterGC()
	for i := warmup; i < total; i++ {
		send(i)
	}
	grown := int64(heapAfterGC()) - int64(base)
	t.Logf("heap after %d requests: %+d bytes over the warm-up level", total-warmup, grown)
	require.Less(t, grown, int64(4<<20), "memory grew by %d bytes", grown)
	require.Equal(t, before, h.counts(), "nothing of the flood is stored")
}
