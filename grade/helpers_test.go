package grade_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/advantage"
	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/grade"
	"github.com/labhub/labhub/lms"
	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/registry"
	"github.com/labhub/labhub/seal"
	"github.com/labhub/labhub/store"
	"github.com/labhub/labhub/toolkey"
)

// env is Labhub's grade service registered with a Moodle-like platform
// double over LTI 1.3 and LTI 1.1. Launches are real: signed by the
// platform, verified by package lti and recorded by package course.
type env struct {
	t        testing.TB
	db       *store.DB
	p        *lms.Platform
	lms      *httptest.Server
	reg      *registry.Registry
	clientID string
	jwksURL  string
	svc      *grade.Service
	opts     grade.Options
	courses  *course.Service
	v13      *lti.LTI13Verifier
	v11      *lti.LTI11Verifier
	provider string

	mu  sync.Mutex
	now time.Time // zero: the real clock
}

const (
	consumerKey    = "moodle-key"
	consumerSecret = "moodle secret & more"
)

var (
	course101 = lms.Course{ID: "2", Label: "LTI101", Title: "LTI course"}
	lab1      = lms.Link{ID: "1", Title: "Lab 1", LineItem: true}
	teacher   = lms.User{ID: "3", Username: "teacher1", GivenName: "Terry", Roles: []string{lms.RoleInstructor}}
)

func student(i int) lms.User {
	return lms.User{ID: fmt.Sprint(100 + i), Username: fmt.Sprintf("student%d", i), GivenName: "Sam",
		FamilyName: fmt.Sprint(i), Email: fmt.Sprintf("s%d@example.invalid", i), Roles: []string{lms.RoleLearner}}
}

func (e *env) Now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.now.IsZero() {
		return time.Now()
	}
	return e.now
}

// setClock freezes the service's clock at t; the zero time unfreezes it.
func (e *env) setClock(t time.Time) {
	e.mu.Lock()
	e.now = t
	e.mu.Unlock()
}

func newEnv(t testing.TB, db *store.DB, tune func(*grade.Options)) *env {
	ctx := context.Background()
	keys, err := seal.New("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	require.NoError(t, err)
	tk := toolkey.New(db, keys, nil)
	require.NoError(t, tk.Ensure(ctx))
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := tk.JWKS()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
	t.Cleanup(jwks.Close)

	p, err := lms.New(lms.Options{})
	require.NoError(t, err)
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	p.SetIssuer(srv.URL)
	e := &env{t: t, db: db, p: p, lms: srv, clientID: lms.NewClientID(), jwksURL: jwks.URL}
	p.AddTool(lms.Tool{ClientID: e.clientID, DeploymentID: "1", LoginURL: "http://127.0.0.1:9/lti/login",
		RedirectURIs: []string{"http://127.0.0.1:9/lti/launch"}, TargetLinkURI: "http://127.0.0.1:9/lti/launch",
		JWKSURL: jwks.URL, LTI11LaunchURL: "http://127.0.0.1:9/hub/lti/launch",
		ConsumerKey: consumerKey, SharedSecret: consumerSecret})

	e.reg = registry.New(db, keys, nil)
	plat, err := e.reg.PutPlatform(ctx, registry.PlatformInput{Issuer: srv.URL, ClientID: e.clientID,
		AuthURL: srv.URL + "/mod/lti/auth.php", TokenURL: srv.URL + "/mod/lti/token.php",
		JWKSURL: srv.URL + "/mod/lti/certs.php", Deployments: []string{"1"}})
	require.NoError(t, err)
	e.provider = registry.ProviderLTI13(plat.ID)
	_, err = e.reg.PutConsumer(ctx, consumerKey, consumerSecret, "")
	require.NoError(t, err)

	e.courses = course.NewService(db, nil)
	e.v13 = &lti.LTI13Verifier{Keys: &lti.KeySetCache{}, Lookup: e.reg.Platform, Nonces: &lti.MemoryNonceStore{}}
	e.v11 = &lti.LTI11Verifier{Secrets: e.reg.Secret, Nonces: &lti.MemoryNonceStore{}}

	e.opts = grade.Options{
		Platforms: e.reg, Secrets: e.reg,
		AGS:      &advantage.AGS{Tokens: &advantage.Tokens{Keys: tk}},
		Outcomes: &lti.OutcomeClient{},
		RetryMin: 40 * time.Millisecond, RetryMax: 200 * time.Millisecond, Poll: 20 * time.Millisecond,
		WaitingRetry: 50 * time.Millisecond, Now: e.Now, Logger: slog.New(slog.DiscardHandler),
	}
	if tune != nil {
		tune(&e.opts)
	}
	e.svc = grade.New(db, e.opts)
	return e
}

var nonceSeq struct {
	sync.Mutex
	n int
}

func nextNonce() string {
	nonceSeq.Lock()
	defer nonceSeq.Unlock()
	nonceSeq.n++
	return fmt.Sprintf("nonce-%d-%d", time.Now().UnixNano(), nonceSeq.n)
}

// launch13 performs u's LTI 1.3 launch of l and records it.
func (e *env) launch13(u lms.User, c lms.Course, l lms.Link) *course.Enrolled {
	e.t.Helper()
	ctx := context.Background()
	nonce := nextNonce()
	claims, err := e.p.LaunchClaims(u, c, l, e.clientID, nonce)
	require.NoError(e.t, err)
	tok, err := e.p.IDToken(claims)
	require.NoError(e.t, err)
	launch, _, err := e.v13.Verify(ctx, tok, nonce)
	require.NoError(e.t, err)
	out, err := e.courses.RecordLaunch(ctx, e.provider, launch)
	require.NoError(e.t, err)
	return out
}

// launch11 performs u's LTI 1.1 launch of l and records it.
func (e *env) launch11(u lms.User, c lms.Course, l lms.Link) *course.Enrolled {
	e.t.Helper()
	ctx := context.Background()
	action, form, err := e.p.SignLTI11(u, c, l, consumerKey)
	require.NoError(e.t, err)
	launch, err := e.v11.Verify(ctx, "POST", action, form.Values())
	require.NoError(e.t, err)
	cons, err := e.reg.Consumer(ctx, consumerKey)
	require.NoError(e.t, err)
	out, err := e.courses.RecordLaunch(ctx, registry.ProviderLTI11(cons.ID), launch)
	require.NoError(e.t, err)
	return out
}

// lineItem is the platform's column of l.
func (e *env) lineItem(l lms.Link) string {
	return e.p.LineItemURL(course101, l, e.clientID)
}

func (e *env) set(activity, user uint, score float64, max float64) grade.Change {
	e.t.Helper()
	ch, err := e.svc.Set(context.Background(), activity, []grade.Entry{{UserID: user, Score: &score, Maximum: max}},
		"test", "teacher1")
	require.NoError(e.t, err)
	require.Len(e.t, ch, 1)
	return ch[0]
}

func (e *env) delivery(gradeID uint) store.GradeDelivery {
	e.t.Helper()
	var d store.GradeDelivery
	require.NoError(e.t, e.db.Where("grade_id = ?", gradeID).First(&d).Error)
	return d
}

func (e *env) deliverDue() {
	e.t.Helper()
	_, err := e.svc.DeliverDue(context.Background())
	require.NoError(e.t, err)
}

func ptr(v float64) *float64 { return &v }
