package course

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/store"
)

// Container labels.
const (
	LabelInstance = spawner.LabelInstance
	LabelServerID = "labhub.server-id"
	LabelUser     = "labhub.user"
	LabelCourse   = "labhub.course"
	LabelRole     = "labhub.role"
)

// userError is a failure whose message is meant for the person starting the
// server.
type userError struct{ msg string }

func (e *userError) Error() string { return e.msg }

// run performs one start and returns its final event.
func (m *Manager) run(ctx context.Context, f *feed, srv store.Server, u store.User, c store.Course, role string,
	p plan, restart bool) Event {
	log := m.log.With("server_id", srv.ID, "user", u.Name, "server", srv.Name)
	err := p.imageErr
	if err == nil {
		err = m.start(ctx, f, &srv, u, c, role, p, restart)
	}
	if err == nil {
		log.Info("started server", "role", role, "container_name", srv.ContainerName)
		return m.readyEvent(u.Name, srv.Name)
	}
	msg := err.Error()
	var ue *userError
	switch {
	case errors.As(err, &ue):
		msg = ue.msg
	case errors.Is(err, context.DeadlineExceeded):
		msg = fmt.Sprintf("The server did not answer within %s.", m.opts.SpawnTimeout)
	case errors.Is(err, context.Canceled):
		msg = "The start was cancelled."
	}
	log.Warn("failed to start server", "error", err)
	// Clean up with a fresh context: the start's own may have expired.
	cctx, cancel := context.WithTimeout(context.Background(), m.opts.StopTimeout+30*time.Second)
	defer cancel()
	if errors.Is(err, spawner.ErrConflict) {
		// The name is held by a container this record did not start; leave
		// it to reconciliation rather than remove it here.
		srv.ContainerID, srv.ContainerName = "", ""
		msg = "Another container already uses this server's name; an administrator has been told."
	}
	if serr := m.stop(cctx, &srv, u.Name, store.StateFailed, msg, "start failed"); serr != nil {
		log.Error("failed to clean up after failed start", "error", serr)
	}
	return Event{Progress: 100, Failed: true, Message: "Spawn failed: " + msg}
}

func (m *Manager) start(ctx context.Context, f *feed, srv *store.Server, u store.User, c store.Course, role string, p plan, restart bool) error {
	image := p.image
	if restart {
		f.publish(Event{Progress: 5, Message: "Restarting your server with its new settings"})
		if err := m.stop(ctx, srv, u.Name, store.StateStopped, "", "role changed"); err != nil {
			return err
		}
	}
	select {
	case m.sem <- struct{}{}:
	default:
		f.publish(Event{Progress: 5, Message: "Waiting for other servers to finish starting"})
		select {
		case m.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer func() { <-m.sem }()
	ok, err := m.docker.ImagePresent(ctx, image)
	if err != nil {
		return fmt.Errorf("check image %s: %w", image, err)
	}
	if !ok {
		if _, err := m.engine(); err != nil {
			return &userError{fmt.Sprintf("The image %s of this course is not available on the server. Ask a Labhub administrator to pull it.", image)}
		}
		if err := m.pullForStart(ctx, f, image, 5, 18); err != nil {
			return err
		}
	}
	f.publish(Event{Progress: 20, Message: "Preparing your files"})
	labels := m.labels(srv, u, c, role)
	home, err := m.HomeVolume(u.Name, srv.Name)
	if err != nil {
		return err
	}
	if _, err := m.docker.EnsureVolume(ctx, home, labels, m.opts.VolumeOwner, image); err != nil {
		return fmt.Errorf("prepare home volume: %w", err)
	}
	shared := m.opts.Names.Shared(c.Slug)
	courseLabels := map[string]string{LabelInstance: m.opts.Instance, LabelCourse: c.Slug}
	if _, err := m.docker.EnsureVolume(ctx, shared, courseLabels, m.opts.VolumeOwner, image); err != nil {
		return fmt.Errorf("prepare course volume: %w", err)
	}
	if IsTeacher(role) {
		// Hand-ins belong to root and are read-only even to the instructor.
		handins := m.opts.Names.Handins(c.Slug)
		if _, err := m.docker.EnsureVolume(ctx, handins, courseLabels, "", image); err != nil {
			return fmt.Errorf("prepare hand-in volume: %w", err)
		}
	}

	m.copyStart(ctx, f, u, c, p.activity, image, home, shared)
	networks, err := m.networksFor(ctx, f, c)
	if err != nil {
		return err
	}
	token, err := m.credentials(ctx, srv, u, role, image)
	if err != nil {
		return err
	}
	spec := m.spec(srv, u, c, role, image, token, labels, home, shared)
	spec.ExtraNetworks = networks
	lim := m.limitsFor(c, p.catalog)
	spec.MemoryBytes, spec.NanoCPUs, spec.PidsLimit = lim.Mem, lim.NanoCPUs, lim.Pids
	setLimitEnv(spec.Env, lim)
	f.publish(Event{Progress: 40, Message: "Starting your container"})
	cs, err := m.docker.Start(ctx, spec)
	if err != nil {
		return fmt.Errorf("start container: %w", err)
	}
	srv.ContainerID, srv.ContainerName = cs.ID, cs.Name
	if err := m.db.WithContext(ctx).Model(srv).Updates(map[string]any{"container_id": cs.ID, "container_name": cs.Name}).Error; err != nil {
		return fmt.Errorf("record container: %w", err)
	}
	if cs.URL == "" {
		return fmt.Errorf("container %s has no address on network %s", cs.Name, m.opts.Network)
	}

	f.publish(Event{Progress: 60, Message: "Waiting for Jupyter to answer"})
	prefix := m.Prefix(u.Name, srv.Name)
	alive := func(ctx context.Context) error {
		st, err := m.docker.Inspect(ctx, cs.ID, m.opts.Network)
		if err != nil {
			return err
		}
		if !st.Running {
			if st.OOMKilled {
				return &userError{"The server ran out of memory while starting."}
			}
			return &userError{fmt.Sprintf("The server exited while starting (exit code %d).", st.ExitCode)}
		}
		return nil
	}
	if err := spawner.WaitReady(ctx, m.opts.HTTPClient, cs.URL+prefix+"api", alive); err != nil {
		return fmt.Errorf("wait for server: %w", err)
	}

	target, err := url.Parse(cs.URL)
	if err != nil {
		return fmt.Errorf("parse server url %q: %w", cs.URL, err)
	}
	now := m.opts.Now().UTC()
	err = m.db.WithContext(ctx).Model(srv).Updates(map[string]any{"state": store.StateRunning, "url": cs.URL,
		"started_at": now, "last_activity": now, "error": ""}).Error
	if err != nil {
		return fmt.Errorf("record running server: %w", err)
	}
	m.routes.Set(u.Name, srv.Name, target, strconv.FormatUint(uint64(srv.ID), 10))
	return nil
}

// credentials issues the server's API token and registers its OAuth client,
// replacing any left from an earlier start, and marks the server starting.
func (m *Manager) credentials(ctx context.Context, srv *store.Server, u store.User, role, image string) (string, error) {
	var token string
	err := m.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := m.auth.RevokeServerTokens(ctx, tx, srv.ID); err != nil {
			return err
		}
		id := srv.ID
		scopes := []string{"users:activity!user=" + u.Name, auth.ServerScope(u.Name, srv.Name)}
		v, err := m.auth.IssueToken(ctx, tx, store.Token{Kind: store.TokenServer, UserID: u.ID, ServerID: &id,
			ClientID: ClientID(u.Name, srv.Name), Scopes: auth.EncodeScopes(scopes), Note: "server " + srv.Name})
		if err != nil {
			return err
		}
		redirect := m.Prefix(u.Name, srv.Name) + "oauth_callback"
		if err := m.auth.RegisterClient(ctx, tx, ClientID(u.Name, srv.Name), srv.ID, redirect, v); err != nil {
			return err
		}
		token = v
		srv.State, srv.Role, srv.Image = store.StateStarting, role, image
		return tx.Model(srv).Updates(map[string]any{"state": store.StateStarting, "role": role, "image": image,
			"error": "", "container_name": m.opts.Names.Container(u.Name, srv.Name)}).Error
	})
	if err != nil {
		return "", fmt.Errorf("issue server credentials: %w", err)
	}
	return token, nil
}

func (m *Manager) labels(srv *store.Server, u store.User, c store.Course, role string) map[string]string {
	return map[string]string{
		LabelInstance: m.opts.Instance,
		LabelServerID: strconv.FormatUint(uint64(srv.ID), 10),
		LabelUser:     u.Name,
		LabelCourse:   c.Slug,
		LabelRole:     role,
	}
}

// spec builds the container of a server.
func (m *Manager) spec(srv *store.Server, u store.User, c store.Course, role, image, token string,
	labels map[string]string, home, shared string) spawner.Spec {
	mounts := []spawner.Mount{
		{Volume: home, Target: m.opts.NotebookDir},
		{Volume: shared, Target: path.Join(m.opts.NotebookDir, "shared"), ReadOnly: !IsTeacher(role)},
	}
	if IsTeacher(role) {
		mounts = append(mounts, spawner.Mount{Volume: m.opts.Names.Handins(c.Slug),
			Target: path.Join(m.opts.NotebookDir, "handins"), ReadOnly: true})
	}
	if m.opts.SiteSharedVolume != "" {
		mounts = append(mounts, spawner.Mount{Volume: m.opts.SiteSharedVolume,
			Target: path.Join(m.opts.NotebookDir, "site-shared"), ReadOnly: true})
	}
	return spawner.Spec{
		Name:        m.opts.Names.Container(u.Name, srv.Name),
		Image:       image,
		Env:         m.env(u.Name, srv.Name, image, token),
		Labels:      labels,
		Mounts:      mounts,
		Network:     m.opts.Network,
		MemoryBytes: m.opts.MemLimit,
		NanoCPUs:    m.opts.NanoCPUs,
		PidsLimit:   m.opts.PidsLimit,
		Port:        8888,
	}
}

// env is the environment jupyterhub-singleuser 3.x, 4.x and 5.x read: the
// full set JupyterHub 5 sets, which older versions ignore where unknown.
func (m *Manager) env(user, server, image, token string) map[string]string {
	prefix := m.Prefix(user, server)
	access := jsonList([]string{auth.ServerScope(user, server), "access:servers!user=" + user})
	public := strings.TrimSuffix(m.opts.PublicURL, "/")
	if u, err := url.Parse(m.opts.PublicURL); err == nil {
		public = u.Scheme + "://" + u.Host
	}
	env := map[string]string{
		"JUPYTERHUB_API_TOKEN":                   token,
		"JPY_API_TOKEN":                          token,
		"JUPYTERHUB_CLIENT_ID":                   ClientID(user, server),
		"JUPYTERHUB_API_URL":                     m.opts.HubAPIURL,
		"JUPYTERHUB_ACTIVITY_URL":                m.opts.HubAPIURL + "/users/" + PathEscape(user) + "/activity",
		"JUPYTERHUB_BASE_URL":                    m.opts.Base,
		"JUPYTERHUB_SERVICE_PREFIX":              prefix,
		"JUPYTERHUB_SERVICE_URL":                 "http://0.0.0.0:8888" + prefix,
		"JUPYTERHUB_OAUTH_CALLBACK_URL":          prefix + "oauth_callback",
		"JUPYTERHUB_OAUTH_ACCESS_SCOPES":         access,
		"JUPYTERHUB_OAUTH_SCOPES":                access,
		"JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES": jsonList([]string{auth.ServerScope(user, server)}),
		"JUPYTERHUB_USER":                        user,
		"JUPYTERHUB_SERVER_NAME":                 server,
		"JUPYTERHUB_HOST":                        "",
		"JUPYTERHUB_PUBLIC_URL":                  public + prefix,
		"JUPYTERHUB_PUBLIC_HUB_URL":              public + m.opts.Base + "hub/",
		"JUPYTERHUB_COOKIE_HOST_PREFIX_ENABLED":  "0",
		"JUPYTER_IMAGE_SPEC":                     image,
		"JUPYTER_IMAGE":                          image,
		// Labhub's own API (hand-ins), reached like the hub API.
		"LABHUB_API_URL": strings.TrimSuffix(m.opts.HubAPIURL, "hub/api") + "api/",
	}
	if m.opts.DefaultURL != "" {
		env["JUPYTERHUB_DEFAULT_URL"] = m.opts.DefaultURL
	}
	if m.opts.MemLimit > 0 {
		env["MEM_LIMIT"] = strconv.FormatInt(m.opts.MemLimit, 10)
	}
	if m.opts.NanoCPUs > 0 {
		env["CPU_LIMIT"] = strconv.FormatFloat(float64(m.opts.NanoCPUs)/1e9, 'f', -1, 64)
	}
	return env
}

func jsonList(v []string) string {
	b, _ := json.Marshal(v)
	return string(b)
}
