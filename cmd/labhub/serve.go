package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/labhub/labhub/advantage"
	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/config"
	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/lms"
	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/proxy"
	"github.com/labhub/labhub/registry"
	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/toolkey"
	"github.com/labhub/labhub/web"
)

func (a *app) serveCmd(demo bool) *cobra.Command {
	cfg := &config.Server{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the hub",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Common = a.common
			return run(cmd.Context(), cfg, demo)
		},
	}
	if demo {
		cmd.Use = "demo"
		cmd.Short = "Run the hub with a built-in demo LMS at /demo: launch as a student or an instructor"
	}
	config.DeclareServer(a.bind(cmd.Flags()), cfg)
	return cmd
}

// routeTable adapts the proxy's table to what the course manager needs.
type routeTable struct{ *proxy.Table }

func (t routeTable) LastActivity(user, server string) (time.Time, bool) {
	r, ok := t.Lookup(user, server)
	return r.LastActivity, ok
}

// run starts the hub and blocks until ctx ends.
func run(ctx context.Context, cfg *config.Server, demo bool) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := cfg.LMS.Validate(); err != nil {
		return err
	}
	log := slog.Default()
	keys, db, err := (&app{common: cfg.Common}).openState(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	instance, err := instanceID(ctx, db)
	if err != nil {
		return err
	}

	reg := registry.New(db, keys, nil)
	if cfg.LTI11Key != "" {
		if _, err := reg.PutConsumer(ctx, cfg.LTI11Key, cfg.LTI11Secret, "from configuration"); err != nil {
			return fmt.Errorf("register LTI 1.1 consumer from configuration: %w", err)
		}
	}
	tk := toolkey.New(db, keys, nil)
	if err := tk.Ensure(ctx); err != nil {
		return err
	}

	docker, err := newDocker(cfg, log)
	if err != nil {
		return err
	}
	defer docker.Close()
	gateway, err := docker.EnsureNetwork(ctx, cfg.Network)
	if err != nil {
		return err
	}
	hubIP, bindIP, err := hubAddress(ctx, docker, cfg, gateway)
	if err != nil {
		return err
	}
	base := cfg.BasePath()
	hubAPI := "http://" + net.JoinHostPort(hubIP, strconv.Itoa(cfg.HubPort)) + base + "hub/api"

	cookieKey := keys.Derive("cookie", 32)
	authn := auth.New(db, cookieKey, nil)
	authn.SessionTTL = cfg.Accounts.SessionTTL
	accounts, err := newAccounts(ctx, &cfg.Accounts, db, keys, log)
	if err != nil {
		return err
	}
	table := proxy.NewTable()
	courses := course.NewService(db, nil)
	courses.UsernameKey11, courses.UsernameClaim13 = cfg.LTI11UsernameKey, cfg.LTI13UsernameClaim
	courses.Link, courses.Blocked = accounts.LinkLTI, accounts.Blocked
	mgr := course.NewManager(db, authn, docker, routeTable{table}, managerOptions(cfg, instance, hubAPI, log))

	nonces := registry.NewNonces(db, nil)
	proxies, _ := cfg.Proxies()
	roles := lti.RoleMapping{Instructor: cfg.Roles()}
	adv := web.AdvantageOptions{Registration: cfg.LMS.Registration, FrameAncestors: cfg.LMS.Origins()}
	if cfg.LMS.RosterInterval > 0 {
		roster := &advantage.Roster{Tokens: &advantage.Tokens{Keys: tk}}
		adv.Roster = &course.RosterSyncer{Service: courses, Source: roster.Members, Roles: roles,
			MinInterval: cfg.LMS.RosterInterval, Logger: log}
	}
	opts := web.Options{
		PublicURL: cfg.PublicURL, TrustedProxies: proxies, CompatVersion: cfg.CompatVersion, Version: version,
		CookieKey: cookieKey, DB: db, Auth: authn, Registry: reg, Courses: courses, Manager: mgr, Keys: tk,
		LTI11: &lti.LTI11Verifier{Secrets: reg.Secret, Nonces: nonces, Window: cfg.LTI11Window},
		LTI13: &lti.LTI13Verifier{Keys: &lti.KeySetCache{}, Lookup: reg.Platform, Nonces: nonces,
			Leeway: cfg.LTI13Leeway, Roles: roles, AcceptDeployment: reg.AcceptDeployment},
		Advantage: adv,
		State:     &lti.StateCodec{Key: keys.Derive("lti-state", 32)},
		Metrics:   prometheus.NewRegistry(),
		Logger:    log,
		Ready: func(ctx context.Context) error {
			if err := db.WithContext(ctx).Exec("SELECT 1").Error; err != nil {
				return fmt.Errorf("database: %w", err)
			}
			if _, err := docker.ImagePresent(ctx, cmp.Or(cfg.Image, "labhub/readiness-check")); err != nil {
				return fmt.Errorf("docker: %w", err)
			}
			return nil
		},
	}
	opts.LTI11.Roles = opts.LTI13.Roles
	opts.Accounts = accounts
	grades, handins := newGrading(cfg, db, reg, tk, docker, mgr, instance, log)
	opts.Grades, opts.Handins = grades, handins
	if demo {
		h, err := setupDemo(ctx, cfg, reg)
		if err != nil {
			return err
		}
		opts.Demo = h
	}
	var srv *web.Server
	px := proxy.New(proxy.Options{
		Prefix: base, Table: table, StripCookie: web.OwnCookie, Logger: log,
		TrustedProxy:     func(addr string) bool { return srv.TrustedProxy(addr) },
		Fallback:         http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { srv.ProxyFallback().ServeHTTP(w, r) }),
		FrameAncestors:   func() []string { return srv.FrameAncestors() },
		CrossSiteCookies: strings.HasPrefix(cfg.PublicURL, "https://"),
		Guard:            func(w http.ResponseWriter, r *http.Request, u, s string) bool { return srv.HelpGuard(w, r, u, s) },
	})
	opts.Proxy = px
	srv, err = web.New(opts)
	if err != nil {
		return err
	}

	// Reconcile before serving, so running servers are routed at once.
	defer mgr.Wait()
	if err := mgr.Reconcile(ctx); err != nil {
		return fmt.Errorf("reconcile with docker: %w", err)
	}
	public := &http.Server{Addr: cfg.Listen, Handler: srv.Handler(), ReadHeaderTimeout: 20 * time.Second}
	internal := &http.Server{Addr: net.JoinHostPort(bindIP, strconv.Itoa(cfg.HubPort)), Handler: srv.APIHandler(),
		ReadHeaderTimeout: 20 * time.Second}
	tlsCfg, toHTTPS, err := serverTLS(cfg)
	if err != nil {
		return err
	}
	servers := []*http.Server{public, internal}
	if cfg.TLS.HTTPListen != "" {
		servers = append(servers, &http.Server{Addr: cfg.TLS.HTTPListen, Handler: toHTTPS, ReadHeaderTimeout: 20 * time.Second})
	}
	// Bind every address before any background work starts, so that a
	// busy port ends the start with its own error and nothing else running.
	listeners, err := listen(servers)
	if err != nil {
		return err
	}
	if tlsCfg != nil {
		listeners[0] = tls.NewListener(listeners[0], tlsCfg)
	}

	bg, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); mgr.Run(bg, time.Minute) }()
	go func() { defer wg.Done(); sweep(bg, authn, nonces, tk, log) }()
	go func() { defer wg.Done(); sweepAccounts(bg, accounts, log) }()
	go func() { defer wg.Done(); grades.Run(bg) }()
	errc := make(chan error, len(servers))
	for i, s := range servers {
		go func(s *http.Server, ln net.Listener) { errc <- s.Serve(ln) }(s, listeners[i])
	}
	log.Info("labhub started", "version", version, "public_url", cfg.PublicURL, "listen", cfg.Listen,
		"hub_api", hubAPI, "network", cfg.Network, "demo", demo)
	if demo {
		log.Info("demo LMS ready", "url", cfg.PublicURL+"demo/")
	}

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	log.Info("shutting down; notebook containers keep running")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(sctx)
	}
	px.Close()
	stopBG()
	wg.Wait()
	if adv.Roster != nil {
		adv.Roster.Wait()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// listen binds the address of every server, in order; on failure it
// closes those already bound.
func listen(servers []*http.Server) ([]net.Listener, error) {
	var out []net.Listener
	for _, s := range servers {
		ln, err := net.Listen("tcp", s.Addr)
		if err != nil {
			for _, l := range out {
				l.Close()
			}
			return nil, fmt.Errorf("listen on %s: %w", s.Addr, err)
		}
		out = append(out, ln)
	}
	return out, nil
}

// hubAddress decides where the hub API for containers listens (bindIP) and
// the address containers use for it (hubIP).
//
//   - A hub on the host's network stack (a process, or a container with
//     network_mode host) listens on the notebook network's gateway, which
//     containers reach.
//   - A hub in a container on a bridge network joins the notebook network
//     and listens on all its addresses; containers reach it by HUB_IP or its
//     address there. That only works when the network lets containers reach
//     each other, so a network that isolates them (the default) is refused
//     with a message.
//   - HUB_IP, when set, names the address containers use.
func hubAddress(ctx context.Context, docker *spawner.Docker, cfg *config.Server, gateway string) (hubIP, bindIP string, err error) {
	selfIP, inContainer, err := docker.ConnectSelf(ctx, cfg.Network)
	if err != nil {
		return "", "", fmt.Errorf("join network %s: %w", cfg.Network, err)
	}
	if !inContainer {
		switch {
		case cfg.HubIP == "":
			return gateway, gateway, nil
		case net.ParseIP(cfg.HubIP) == nil:
			return cfg.HubIP, "0.0.0.0", nil
		default:
			return cfg.HubIP, cfg.HubIP, nil
		}
	}
	info, err := docker.InspectNetwork(ctx, cfg.Network)
	if err != nil {
		return "", "", err
	}
	if !info.ICC {
		return "", "", fmt.Errorf("labhub runs in a container on a bridge network, and network %s keeps containers "+
			"from reaching each other, so notebook servers could not reach the hub nor the hub them: run Labhub's "+
			"container on the host's network (network_mode: host, as docker-compose.yml does), or name a notebook "+
			"network that allows traffic between containers", cfg.Network)
	}
	if cfg.HubIP != "" {
		return cfg.HubIP, "0.0.0.0", nil
	}
	return selfIP, "0.0.0.0", nil
}

// sweep deletes expired nonces, sessions, tokens and codes every few
// minutes, and reloads the tool keys every minute, so that a rotation made
// from the command line is picked up.
func sweep(ctx context.Context, a *auth.Service, n *registry.Nonces, k *toolkey.Keys, log *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for i := 0; ; i++ {
		if i%5 == 0 {
			if _, err := n.Sweep(ctx); err != nil && ctx.Err() == nil {
				log.Error("failed to sweep nonces", "error", err)
			}
			if err := a.Sweep(ctx); err != nil && ctx.Err() == nil {
				log.Error("failed to sweep sessions", "error", err)
			}
			if _, err := k.Sweep(ctx); err != nil && ctx.Err() == nil {
				log.Error("failed to sweep tool keys", "error", err)
			}
		}
		if err := k.Reload(ctx); err != nil && ctx.Err() == nil {
			log.Error("failed to reload tool keys", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// setupDemo registers the built-in demo LMS as an LTI 1.3 platform and an
// LTI 1.1 consumer of this hub and returns its handler.
func setupDemo(ctx context.Context, cfg *config.Server, reg *registry.Registry) (http.Handler, error) {
	issuer := cfg.PublicURL + "demo"
	p, err := lms.New(lms.Options{Issuer: issuer})
	if err != nil {
		return nil, fmt.Errorf("create demo LMS: %w", err)
	}
	const clientID, deployment, consumerKey = "labhub-demo", "1", "labhub-demo"
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	p.AddTool(lms.Tool{
		ClientID: clientID, DeploymentID: deployment,
		LoginURL:       cfg.PublicURL + "lti/login",
		RedirectURIs:   []string{cfg.PublicURL + "lti/launch"},
		TargetLinkURI:  cfg.PublicURL + "lti/launch",
		JWKSURL:        cfg.PublicURL + "lti/jwks",
		LTI11LaunchURL: cfg.PublicURL + "hub/lti/launch",
		ConsumerKey:    consumerKey, SharedSecret: hex.EncodeToString(secret),
	})
	if _, err := reg.PutPlatform(ctx, registry.PlatformInput{
		Name: "Labhub demo LMS", Issuer: issuer, ClientID: clientID,
		AuthURL: issuer + "/mod/lti/auth.php", TokenURL: issuer + "/mod/lti/token.php",
		JWKSURL: issuer + "/mod/lti/certs.php", Deployments: []string{deployment},
	}); err != nil {
		return nil, err
	}
	if _, err := reg.PutConsumer(ctx, consumerKey, hex.EncodeToString(secret), "Labhub demo LMS"); err != nil {
		return nil, err
	}
	if u, err := url.Parse(issuer); err == nil && u.Host == "" {
		return nil, fmt.Errorf("demo issuer %q has no host", issuer)
	}
	return p.Handler(), nil
}
