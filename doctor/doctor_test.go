package doctor_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/doctor"
	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/lms"
	"github.com/labhub/labhub/registry"
	"github.com/labhub/labhub/spawner"
)

func find(t *testing.T, rs []doctor.Result, check string) doctor.Result {
	t.Helper()
	for _, r := range rs {
		if r.Check == check {
			return r
		}
	}
	t.Fatalf("no %q result in %+v", check, rs)
	return doctor.Result{}
}

// fakeHub answers like Labhub's public front and hub API.
func fakeHub() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Labhub-Version", "test")
		w.Header().Set("X-JupyterHub-Version", "5.3.0")
		switch r.URL.Path {
		case "/healthz":
			w.Write([]byte("ok\n"))
		case "/hub/api":
			w.Write([]byte(`{"version":"5.3.0"}`))
		default:
			http.NotFound(w, r)
		}
	})
}

func TestDoctorOnRealEngine(t *testing.T) {
	cli := testutil.Docker(t)
	image := testutil.Image(t)
	ctx := context.Background()
	id := fmt.Sprintf("%06x", rand.Uint32()&0xffffff)
	d, err := spawner.New(spawner.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })

	nets := map[string]network.CreateOptions{
		"good-" + id:   {Internal: true, Options: map[string]string{"com.docker.network.bridge.enable_icc": "false"}},
		"open-" + id:   {},
		"shared-" + id: {Internal: true},
	}
	for name, opts := range nets {
		opts.Driver = "bridge"
		_, err := cli.NetworkCreate(ctx, "labhub-doc-"+name, opts)
		require.NoError(t, err)
		t.Cleanup(func() { _ = cli.NetworkRemove(context.Background(), "labhub-doc-"+name) })
	}
	good := "labhub-doc-good-" + id
	gw, err := d.InspectNetwork(ctx, good)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", net.JoinHostPort(gw.Gateway, "0"))
	require.NoError(t, err)
	hubAPI := &httptest.Server{Listener: ln, Config: &http.Server{Handler: fakeHub()}}
	hubAPI.Start()
	t.Cleanup(hubAPI.Close)
	public := httptest.NewServer(fakeHub())
	t.Cleanup(public.Close)

	db := testutil.SQLite(t)
	env := &doctor.Env{Docker: d, DB: db, Registry: registry.New(db, nil, nil), PublicURL: public.URL + "/",
		Network: good, Image: image, HubAPIURL: hubAPI.URL + "/hub/api"}
	rs := doctor.Run(ctx, env)
	for check, want := range map[string]doctor.Status{"docker": doctor.OK, "clock (engine)": doctor.OK, "network": doctor.OK,
		"image": doctor.OK, "hub from network": doctor.OK, "public url": doctor.OK, "tls": doctor.Warn,
		"lti": doctor.Warn, "database": doctor.OK} {
		r := find(t, rs, check)
		require.Equal(t, want, r.Status, "%s: %s", check, r.Message)
	}
	require.False(t, doctor.Failed(rs))

	// What goes wrong is found, with a fix.
	bad := *env
	bad.Network = "labhub-doc-open-" + id
	r := find(t, doctor.Run(ctx, &bad), "network")
	require.Equal(t, doctor.Fail, r.Status)
	require.Contains(t, r.Message, "not internal")
	require.NotEmpty(t, r.Fix)
	bad.Network = "labhub-doc-shared-" + id
	require.Equal(t, doctor.Warn, find(t, doctor.Run(ctx, &bad), "network").Status, "containers could reach each other")

	bad = *env
	bad.HubAPIURL = "http://" + net.JoinHostPort(gw.Gateway, "1") + "/hub/api"
	r = find(t, doctor.Run(ctx, &bad), "hub from network")
	require.Equal(t, doctor.Fail, r.Status)
	require.Contains(t, r.Fix, "HUB_IP")

	bad = *env
	bad.Image = "labhub/no-such-image:nope"
	rs = doctor.Run(ctx, &bad)
	require.Equal(t, doctor.Fail, find(t, rs, "image").Status)
	require.Contains(t, find(t, rs, "image").Fix, "docker pull labhub/no-such-image:nope")
	require.True(t, doctor.Failed(rs))

	bad = *env
	bad.PublicURL = "http://127.0.0.1:1/"
	require.Equal(t, doctor.Fail, find(t, doctor.Run(ctx, &bad), "public url").Status)
	notLabhub := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notLabhub.Close)
	bad.PublicURL = notLabhub.URL + "/"
	r = find(t, doctor.Run(ctx, &bad), "public url")
	require.Equal(t, doctor.Fail, r.Status)
	require.Contains(t, r.Fix, "reverse proxy")
}

func TestDoctorTLSPlatformsAndClocks(t *testing.T) {
	ctx := context.Background()
	tlsSrv := httptest.NewTLSServer(fakeHub())
	t.Cleanup(tlsSrv.Close)
	db := testutil.SQLite(t)
	reg := registry.New(db, nil, nil)
	env := &doctor.Env{DB: db, Registry: reg, PublicURL: tlsSrv.URL + "/", HTTP: tlsSrv.Client()}

	r := find(t, doctor.Run(ctx, env), "tls")
	require.Equal(t, doctor.OK, r.Status, r.Message)
	require.Contains(t, r.Message, "valid for")
	// A certificate that runs out within two weeks is a warning.
	env.Now = func() time.Time { return tlsSrv.Certificate().NotAfter.Add(-24 * time.Hour) }
	require.Equal(t, doctor.Warn, find(t, doctor.Run(ctx, env), "tls").Status)
	env.Now = nil
	// A certificate the doctor does not trust fails the public URL.
	env.HTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
	r = find(t, doctor.Run(ctx, env), "public url")
	require.Equal(t, doctor.Fail, r.Status)
	require.Contains(t, r.Fix, "certificate")
	env.HTTP = tlsSrv.Client()

	// Platforms: a working key set, one that is not one, a skewed clock.
	p, err := lms.New(lms.Options{})
	require.NoError(t, err)
	lmsSrv := httptest.NewServer(p.Handler())
	t.Cleanup(lmsSrv.Close)
	p.SetIssuer(lmsSrv.URL)
	_, err = reg.PutPlatform(ctx, registry.PlatformInput{Issuer: lmsSrv.URL, ClientID: "c1", AuthURL: lmsSrv.URL + "/mod/lti/auth.php",
		TokenURL: lmsSrv.URL + "/mod/lti/token.php", JWKSURL: lmsSrv.URL + "/mod/lti/certs.php", Deployments: []string{"1"}})
	require.NoError(t, err)
	_, err = reg.PutPlatform(ctx, registry.PlatformInput{Issuer: "http://127.0.0.1:9", ClientID: "c2",
		AuthURL: "http://127.0.0.1:9/auth", JWKSURL: lmsSrv.URL + "/not-a-keyset", Deployments: []string{"1"}})
	require.NoError(t, err)
	rs := doctor.Run(ctx, env)
	require.Equal(t, doctor.OK, find(t, rs, "lti13 "+lmsSrv.URL).Status)
	r = find(t, rs, "lti13 "+lmsSrv.URL+" endpoints")
	require.Equal(t, doctor.OK, r.Status, r.Message)
	require.Equal(t, "authorization URL and token URL answer", r.Message)
	r = find(t, rs, "lti13 http://127.0.0.1:9")
	require.Equal(t, doctor.Fail, r.Status)
	require.Contains(t, r.Fix, "certs.php")
	host := strings.TrimPrefix(lmsSrv.URL, "http://")
	require.Equal(t, doctor.OK, find(t, rs, "clock ("+host+")").Status)
	env.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	r = find(t, doctor.Run(ctx, env), "clock ("+host+")")
	require.Equal(t, doctor.Warn, r.Status)
	require.Contains(t, r.Fix, "NTP")
	env.Now = nil

	// A token URL nobody answers at.
	_, err = reg.PutPlatform(ctx, registry.PlatformInput{Issuer: lmsSrv.URL, ClientID: "c1", AuthURL: lmsSrv.URL + "/mod/lti/auth.php",
		TokenURL: "http://127.0.0.1:9/token", JWKSURL: lmsSrv.URL + "/mod/lti/certs.php", Deployments: []string{"1"}})
	require.NoError(t, err)
	r = find(t, doctor.Run(ctx, env), "lti13 "+lmsSrv.URL+" endpoints")
	require.Equal(t, doctor.Fail, r.Status)
	require.Contains(t, r.Message, "token URL http://127.0.0.1:9/token unreachable")
	require.Contains(t, r.Fix, "token.php")
}
