package config

import (
	"fmt"
	"github.com/labhub/labhub/spawner"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Common holds the settings every command needs to reach Labhub's state.
type Common struct {
	DataDir     string
	DatabaseURL string
	SecretKey   string
	LogLevel    string
	LogFormat   string
}

// DeclareCommon declares the settings of c on s.
func DeclareCommon(s *Set, c *Common) {
	s.String(&c.DataDir, Setting{Flag: "data-dir", Env: []string{"LABHUB_DATA_DIR"}, Default: "./data",
		Group: "State", Usage: "Directory for the SQLite database, the secret key file and backups."})
	s.String(&c.DatabaseURL, Setting{Flag: "database", Env: []string{"LABHUB_DATABASE_URL"},
		Group: "State", Usage: "PostgreSQL DSN (postgres://...); empty means SQLite in the data directory."})
	s.String(&c.SecretKey, Setting{Flag: "secret-key", Env: []string{"LABHUB_SECRET_KEY"}, Secret: true,
		Group: "State", Usage: "Master key that encrypts stored secrets and signs cookies; empty means a random key kept in <data-dir>/secret.key."})
	s.String(&c.LogLevel, Setting{Flag: "log-level", Env: []string{"LABHUB_LOG_LEVEL"}, Default: "info",
		Group: "Operations", Usage: "Log level: debug, info, warn or error."})
	s.String(&c.LogFormat, Setting{Flag: "log-format", Env: []string{"LABHUB_LOG_FORMAT"}, Default: "text",
		Group: "Operations", Usage: "Log format: text or json."})
}

// Server holds the settings of a running hub.
type Server struct {
	Common

	Listen         string
	PublicURL      string
	HostName       string
	TrustedProxies string

	LTI11Key           string
	LTI11Secret        string
	LTI11Window        time.Duration
	LTI11UsernameKey   string
	LTI13UsernameClaim string
	LTI13Leeway        time.Duration
	InstructorRoles    string

	Image         string
	Network       string
	NotebookDir   string
	NotebookOwner string
	MemLimit      int64
	CPULimit      float64
	PidsLimit     int
	HubIP         string
	HubPort       int
	SpawnTimeout  time.Duration
	SpawnLimit    int
	IdleTimeout   time.Duration
	OrphanGrace   time.Duration
	DefaultURL    string
	CompatVersion string
	SiteSharedVol string
	HomeVolume    string
	NamePrefix    string

	Accounts    AccountSettings
	LMS         LMSSettings
	Grades      GradeSettings
	Environment EnvironmentSettings
	TLS         TLSSettings
}

// DeclareServer declares the settings of c that only a running hub needs;
// declare c.Common with DeclareCommon.
func DeclareServer(s *Set, c *Server) {
	g := "Web"
	s.String(&c.Listen, Setting{Flag: "listen", Env: []string{"LABHUB_LISTEN"}, Default: "127.0.0.1:8000", Group: g,
		Usage: "Address the public web server (LTI, pages, notebooks) listens on."})
	s.String(&c.PublicURL, Setting{Flag: "public-url", Env: []string{"LABHUB_PUBLIC_URL"}, Group: g,
		Usage: "URL the LMS and browsers use to reach Labhub, with any path prefix; empty means https://HOST_NAME/ when HOST_NAME is set, else http://<listen>/."})
	s.String(&c.HostName, Setting{Flag: "host-name", Env: []string{"HOST_NAME"}, Group: g,
		Usage: "Public host name of the old deployment; used for the public URL when --public-url is empty."})
	s.String(&c.TrustedProxies, Setting{Flag: "trusted-proxies", Env: []string{"LABHUB_TRUSTED_PROXIES"}, Group: g,
		Usage: "Comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-* headers are believed."})

	g = "LTI"
	s.String(&c.LTI11Key, Setting{Flag: "lti11-key", Env: []string{"LABHUB_LTI11_KEY", "LTI_CLIENT_KEY"}, Group: g,
		Usage: "Consumer key of one LTI 1.1 consumer registered at start (more with `labhub lti11 add-consumer`)."})
	s.String(&c.LTI11Secret, Setting{Flag: "lti11-secret", Env: []string{"LABHUB_LTI11_SECRET", "LTI_SHARED_SECRET"}, Secret: true, Group: g,
		Usage: "Shared secret of that consumer."})
	s.Duration(&c.LTI11Window, Setting{Flag: "lti11-timestamp-window", Env: []string{"LABHUB_LTI11_TIMESTAMP_WINDOW"}, Default: "300s", Group: g,
		Usage: "How far an LTI 1.1 oauth_timestamp may be from the hub's clock, either way."})
	s.String(&c.LTI11UsernameKey, Setting{Flag: "lti11-username-key", Env: []string{"LABHUB_LTI11_USERNAME_KEY", "LTI_USERNAME_KEY"}, Group: g,
		Usage: "LTI 1.1 launch parameter that names the user (e.g. ext_user_username, lis_person_contact_email_primary, user_id); empty means the LMS username when shared, else a stable id."})
	s.String(&c.LTI13UsernameClaim, Setting{Flag: "lti13-username-claim", Env: []string{"LABHUB_LTI13_USERNAME_CLAIM"}, Group: g,
		Usage: "LTI 1.3 claim that names the user (e.g. ext.user_username, email, sub, custom.login); empty means the LMS username when shared, else a stable id."})
	s.Duration(&c.LTI13Leeway, Setting{Flag: "lti13-leeway", Env: []string{"LABHUB_LTI13_LEEWAY"}, Default: "60s", Group: g,
		Usage: "Clock skew allowed on id_token exp and iat (Moodle's tokens live 60 s)."})
	s.String(&c.InstructorRoles, Setting{Flag: "instructor-roles", Env: []string{"LABHUB_INSTRUCTOR_ROLES"}, Default: "Instructor,TeachingAssistant,ContentDeveloper", Group: g,
		Usage: "Course roles that get instructor rights (add Mentor to include mentors)."})

	g = "Notebook servers"
	s.String(&c.Image, Setting{Flag: "image", Env: []string{"LABHUB_IMAGE", "DOCKER_SINGLEUSER_IMAGE"}, Default: "quay.io/jupyter/minimal-notebook:latest", Group: g,
		Usage: "Image of courses whose instructor has not chosen one from the catalog; empty makes their students wait for that choice."})
	s.String(&c.Network, Setting{Flag: "network", Env: []string{"LABHUB_NETWORK", "DOCKER_NETWORK_NAME"}, Default: "labhub", Group: g,
		Usage: "Internal Docker network of the notebook containers; created (internal, no inter-container traffic) when missing."})
	s.String(&c.NotebookDir, Setting{Flag: "notebook-dir", Env: []string{"LABHUB_NOTEBOOK_DIR", "DOCKER_NOTEBOOK_DIR"}, Default: "/home/jovyan", Group: g,
		Usage: "Where the user's home volume is mounted; the course's shared volume appears at <dir>/shared."})
	s.String(&c.NotebookOwner, Setting{Flag: "notebook-owner", Env: []string{"LABHUB_NOTEBOOK_OWNER"}, Default: "1000:100", Group: g,
		Usage: "uid:gid that owns new volumes (the notebook user of Jupyter Docker Stacks images)."})
	s.Bytes(&c.MemLimit, Setting{Flag: "mem-limit", Env: []string{"LABHUB_MEM_LIMIT"}, Default: "2G", Group: g,
		Usage: "Memory limit per notebook container (0 for none)."})
	s.Float(&c.CPULimit, Setting{Flag: "cpu-limit", Env: []string{"LABHUB_CPU_LIMIT"}, Default: "1", Group: g,
		Usage: "CPU limit per notebook container in cores (0 for none)."})
	s.Int(&c.PidsLimit, Setting{Flag: "pids-limit", Env: []string{"LABHUB_PIDS_LIMIT"}, Default: "512", Group: g,
		Usage: "Maximum number of processes per notebook container (0 for none)."})
	s.String(&c.HubIP, Setting{Flag: "hub-ip", Env: []string{"LABHUB_HUB_IP", "HUB_IP"}, Group: g,
		Usage: "Address containers use to reach the hub API; empty means the gateway of the network (hub on the host) or the hub's own address on it (hub in a container)."})
	s.Int(&c.HubPort, Setting{Flag: "hub-port", Env: []string{"LABHUB_HUB_PORT"}, Default: "8081", Group: g,
		Usage: "Port of the hub API listener that only the containers use."})
	s.Duration(&c.SpawnTimeout, Setting{Flag: "spawn-timeout", Env: []string{"LABHUB_SPAWN_TIMEOUT"}, Default: "120s", Group: g,
		Usage: "How long a server may take from request to answering."})
	s.Int(&c.SpawnLimit, Setting{Flag: "spawn-concurrency", Env: []string{"LABHUB_SPAWN_CONCURRENCY"}, Default: "8", Group: g,
		Usage: "How many servers may be starting at once; further starts wait in line."})
	s.Duration(&c.IdleTimeout, Setting{Flag: "idle-timeout", Env: []string{"LABHUB_IDLE_TIMEOUT"}, Default: "1h", Group: g,
		Usage: "Stop a server after this long without activity (0 to never stop idle servers)."})
	s.Duration(&c.OrphanGrace, Setting{Flag: "orphan-grace", Env: []string{"LABHUB_ORPHAN_GRACE"}, Default: "10m", Group: g,
		Usage: "Age after which a labelled container the hub has no record of is removed."})
	s.String(&c.DefaultURL, Setting{Flag: "default-url", Env: []string{"LABHUB_DEFAULT_URL"}, Group: g,
		Usage: "Page a server opens on (e.g. /lab or /tree); empty leaves the image's default."})
	s.Version(&c.CompatVersion, Setting{Flag: "jupyterhub-version", Env: []string{"LABHUB_JUPYTERHUB_VERSION", "JUPYTERHUB_VERSION"}, Default: "5.3.0", Group: g,
		ForgiveOldEnv: true,
		Usage:         "JupyterHub version Labhub reports to jupyterhub-singleuser (PEP 440, e.g. 5.3.0); an invalid JUPYTERHUB_VERSION (a Docker tag such as latest) is ignored with a warning."})
	s.String(&c.HomeVolume, Setting{Flag: "home-volume", Env: []string{"LABHUB_HOME_VOLUME"}, Group: g,
		Usage: "Name template of users' home volumes with {username} and {course}, escaped as DockerSpawner does; jupyterhub-user-{username} adopts an old deployment's volumes (one home for all courses); empty means one volume per user per course."})
	s.String(&c.NamePrefix, Setting{Flag: "name-prefix", Env: []string{"LABHUB_NAME_PREFIX"}, Default: spawner.DefaultPrefix, Group: g,
		Usage: "First part of the names of Labhub's containers and volumes; two Labhubs sharing one Docker engine need different ones."})
	s.String(&c.SiteSharedVol, Setting{Flag: "site-shared-volume", Env: []string{"LABHUB_SITE_SHARED_VOLUME"}, Group: g,
		Usage: "Named volume of the old deployment's site-wide shared folder, mounted read-only at <notebook-dir>/site-shared; empty for none."})

	declareAccounts(s, &c.Accounts)
	declareLMS(s, &c.LMS)
	declareGrades(s, &c.Grades)
	declareTLS(s, &c.TLS)
	declareEnvironment(s, &c.Environment)
}

// Validate checks the settings and fills derived values.
func (c *Server) Validate() error {
	if err := ValidVersion(c.CompatVersion); err != nil {
		return fmt.Errorf("--jupyterhub-version (LABHUB_JUPYTERHUB_VERSION): %w", err)
	}
	if c.PublicURL == "" && len(c.TLS.Domains()) > 0 {
		c.PublicURL = "https://" + c.TLS.Domains()[0] + "/"
	}
	if c.PublicURL == "" {
		if c.HostName != "" {
			c.PublicURL = "https://" + c.HostName + "/"
		} else {
			c.PublicURL = "http://" + c.Listen + "/"
		}
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("public URL %q must be an absolute http or https URL", c.PublicURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("public URL %q must not have a query or fragment", c.PublicURL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	c.PublicURL = u.String()
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen address %q: %w", c.Listen, err)
	}
	if _, err := c.Proxies(); err != nil {
		return err
	}
	if (c.LTI11Key == "") != (c.LTI11Secret == "") {
		return fmt.Errorf("LTI 1.1 consumer needs both a key and a secret (LTI_CLIENT_KEY and LTI_SHARED_SECRET)")
	}
	if c.HubPort <= 0 || c.HubPort > 65535 {
		return fmt.Errorf("hub port %d out of range", c.HubPort)
	}
	if c.CPULimit < 0 || c.MemLimit < 0 || c.PidsLimit < 0 {
		return fmt.Errorf("limits must not be negative")
	}
	if c.MemLimit != 0 && c.MemLimit < 64<<20 {
		return fmt.Errorf("memory limit %d bytes is below 64M; a notebook server cannot start in that", c.MemLimit)
	}
	if c.SpawnLimit < 1 {
		return fmt.Errorf("spawn concurrency must be at least 1")
	}
	if err := spawner.ValidPrefix(c.NamePrefix); err != nil {
		return err
	}
	if c.HomeVolume != "" && !strings.Contains(c.HomeVolume, "{username}") {
		return fmt.Errorf("home volume template %q must contain {username}, or every user would share one home", c.HomeVolume)
	}
	if c.NotebookOwner != "" {
		if err := spawner.CheckOwner(c.NotebookOwner); err != nil {
			return fmt.Errorf("notebook owner (--notebook-owner, LABHUB_NOTEBOOK_OWNER): %w", err)
		}
	}
	if c.NotebookDir == "" || !strings.HasPrefix(c.NotebookDir, "/") {
		return fmt.Errorf("notebook directory %q must be an absolute path", c.NotebookDir)
	}
	if err := c.Grades.validate(); err != nil {
		return err
	}
	if err := c.TLS.validate(c.PublicURL, c.LMS.TLSCert != ""); err != nil {
		return err
	}
	return c.Accounts.validate()
}

// BasePath returns the path prefix of the public URL, ending in "/".
func (c *Server) BasePath() string {
	u, err := url.Parse(c.PublicURL)
	if err != nil || u.Path == "" {
		return "/"
	}
	return u.Path
}

// Proxies parses TrustedProxies.
func (c *Server) Proxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(c.TrustedProxies, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %w", f, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", f, err)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Roles returns the configured instructor role names.
func (c *Server) Roles() []string {
	var out []string
	for _, r := range strings.Split(c.InstructorRoles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// Names returns how the hub names its containers and volumes.
func (c *Server) Names() spawner.Names {
	return spawner.Names{Prefix: c.NamePrefix, HomeTemplate: c.HomeVolume}
}
