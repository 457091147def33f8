// Package doctor checks a Labhub deployment and says what to fix: the Docker
// engine, the notebook network, the images, whether notebook containers can
// reach the hub, the public URL and its certificate, the LTI registrations,
// the clocks and the database schema.
//
// doctor depends on spawner, registry, migrations and store.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/labhub/labhub/registry"
	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/store"
)

// Status is the outcome of one check.
type Status int

// Outcomes, from good to bad.
const (
	OK Status = iota
	Warn
	Fail
)

func (s Status) String() string {
	return [...]string{"ok", "warn", "FAIL"}[s]
}

// Result is what one check found.
type Result struct {
	Check   string
	Status  Status
	Message string
	// Fix says what to do when Status is not OK.
	Fix string
}

// Env is the deployment under examination.
type Env struct {
	Docker   *spawner.Docker
	DB       *store.DB
	Registry *registry.Registry
	// PublicURL is the configured public URL, ending in "/".
	PublicURL string
	// Network is the notebook network.
	Network string
	// Image is the default notebook image.
	Image string
	// HubAPIURL is the hub API as notebook containers reach it.
	HubAPIURL string
	// HTTP makes the outside requests; nil means a client with a 10 s
	// timeout.
	HTTP *http.Client
	Now  func() time.Time
}

func (e *Env) http() *http.Client {
	if e.HTTP != nil {
		return e.HTTP
	}
	return &http.Client{Timeout: 10 * time.Second}
}

func (e *Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Run performs every check. Checks that depend on an unreachable engine are
// skipped with a note.
func Run(ctx context.Context, e *Env) []Result {
	var out []Result
	add := func(r ...Result) { out = append(out, r...) }
	engineOK := false
	if e.Docker == nil {
		add(Result{Check: "docker", Status: Fail, Message: "no connection to the Docker engine",
			Fix: "start the engine, or mount /var/run/docker.sock into Labhub's container"})
	} else {
		r := checkEngine(ctx, e)
		engineOK = r[0].Status != Fail
		add(r...)
	}
	if engineOK {
		add(checkNetwork(ctx, e))
		add(checkImages(ctx, e)...)
		add(checkHubFromNetwork(ctx, e))
	}
	add(checkPublicURL(ctx, e)...)
	add(checkPlatforms(ctx, e)...)
	add(checkSchema(ctx, e))
	return out
}

// Failed reports whether any result failed.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

// Format writes the results as aligned lines.
func Format(w io.Writer, rs []Result) {
	for _, r := range rs {
		fmt.Fprintf(w, "%-4s  %-16s %s\n", r.Status, r.Check, r.Message)
		if r.Fix != "" && r.Status != OK {
			fmt.Fprintf(w, "      %-16s fix: %s\n", "", r.Fix)
		}
	}
}

func checkEngine(ctx context.Context, e *Env) []Result {
	info, err := e.Docker.Engine(ctx)
	if err != nil {
		return []Result{{Check: "docker", Status: Fail, Message: "the Docker engine does not answer: " + err.Error(),
			Fix: "start the engine, or mount /var/run/docker.sock into Labhub's container"}}
	}
	out := []Result{{Check: "docker", Status: OK, Message: fmt.Sprintf("engine %s on %s reachable", info.ServerVersion, info.Name)}}
	if t, err := time.Parse(time.RFC3339Nano, info.SystemTime); err == nil {
		out = append(out, clockResult("clock (engine)", e.now().Sub(t), 5*time.Second))
	}
	return out
}

// clockResult judges a clock difference: LTI 1.1 timestamps and LTI 1.3
// tokens (which Moodle makes live 60 s) need clocks within seconds.
func clockResult(check string, skew, limit time.Duration) Result {
	if skew < 0 {
		skew = -skew
	}
	skew = skew.Round(time.Second)
	if skew <= limit {
		return Result{Check: check, Status: OK, Message: fmt.Sprintf("within %s", limit)}
	}
	return Result{Check: check, Status: Warn, Message: fmt.Sprintf("differs by %s", skew),
		Fix: "run NTP (systemd-timesyncd or chrony) on this host and the LMS; LTI launches are refused when clocks drift"}
}

func checkNetwork(ctx context.Context, e *Env) Result {
	n, err := e.Docker.InspectNetwork(ctx, e.Network)
	if err != nil {
		if errors.Is(err, spawner.ErrNotFound) {
			return Result{Check: "network", Status: Warn, Message: fmt.Sprintf("network %s does not exist yet", e.Network),
				Fix: "labhub serve creates it (internal, no traffic between containers)"}
		}
		return Result{Check: "network", Status: Fail, Message: err.Error()}
	}
	switch {
	case !n.Internal:
		return Result{Check: "network", Status: Fail,
			Message: fmt.Sprintf("network %s is not internal: notebook containers can reach other hosts", n.Name),
			Fix:     fmt.Sprintf("stop the servers, remove the network (docker network rm %s) and let labhub serve create it, or name an internal one", n.Name)}
	case n.ICC:
		return Result{Check: "network", Status: Warn,
			Message: fmt.Sprintf("network %s lets notebook containers reach each other", n.Name),
			Fix:     "recreate it with com.docker.network.bridge.enable_icc=false (labhub serve does so when it creates it)"}
	}
	return Result{Check: "network", Status: OK, Message: fmt.Sprintf("%s is internal, containers isolated, gateway %s", n.Name, n.Gateway)}
}

func checkImages(ctx context.Context, e *Env) []Result {
	refs := []string{e.Image}
	if e.DB != nil {
		var catalog []store.Image
		if err := e.DB.WithContext(ctx).Order("name").Find(&catalog).Error; err == nil {
			for _, i := range catalog {
				refs = append(refs, i.Ref)
			}
		}
	}
	var out []Result
	seen := map[string]bool{}
	for _, ref := range refs {
		if ref == "" || seen[ref] {
			continue
		}
		seen[ref] = true
		ok, err := e.Docker.ImagePresent(ctx, ref)
		switch {
		case err != nil:
			out = append(out, Result{Check: "image", Status: Fail, Message: ref + ": " + err.Error()})
		case !ok:
			st := Warn
			if ref == e.Image {
				st = Fail
			}
			out = append(out, Result{Check: "image", Status: st, Message: ref + " is not on the engine",
				Fix: "docker pull " + ref})
		default:
			out = append(out, Result{Check: "image", Status: OK, Message: ref + " present"})
		}
	}
	return out
}
