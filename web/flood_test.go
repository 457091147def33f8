package web_test

import (
	"net/http"
	"net/http/httptest"
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

// A flood of forged launches — every one with a fresh nonce and a bad
// signature, so none may be remembered — and of login initiations, which
// anyone may send, leaves memory and the database as they were.
func TestFloodLeavesMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 200,000 requests")
	}
	h := newHarness(t)
	_, form := h.signed11(nil)
	form.Set("oauth_signature", "Zm9yZ2Vk")
	loginAction, login, err := h.platform.LoginInitiation(learner, crs, link, h.clientID)
	require.NoError(t, err)
	path := strings.TrimPrefix(loginAction, h.hub.URL)
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
