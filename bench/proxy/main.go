// Command proxy measures the Labhub proxy against a direct connection and,
// when it is installed, against configurable-http-proxy, the proxy
// JupyterHub uses.
//
// It starts an upstream on loopback that serves 1 KiB and 1 MiB bodies, puts
// each proxy in front of it with a route in the /user/<name>/<server>/
// layout, and drives every combination with wrk (if installed) or a built-in
// load generator, printing requests per second and latency percentiles as a
// Markdown table. Everything listens on 127.0.0.1; the load generator and the
// servers share the machine's cores, so the numbers compare the paths with
// each other and are not absolute capacities.
//
// Usage:
//
//	go run ./bench/proxy -duration 10s -concurrency 32
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/labhub/labhub/proxy"
)

// routePath is where every proxy routes the benchmark server.
const routePath = "/user/bench/c/"

// sizes are the response bodies measured, by the path suffix that selects
// them.
var sizes = []struct {
	name string
	n    int
}{
	{"1 KiB", 1 << 10},
	{"1 MiB", 1 << 20},
}

func main() {
	duration := flag.Duration("duration", 10*time.Second, "how long to drive each combination")
	warmup := flag.Duration("warmup", 2*time.Second, "unmeasured load before each measurement")
	concurrency := flag.Int("concurrency", 32, "concurrent connections")
	threads := flag.Int("threads", 2, "wrk threads")
	loader := flag.String("loader", "auto", "load generator: auto (wrk if installed), wrk or go")
	chp := flag.String("chp", "auto", "configurable-http-proxy: auto (if installed), on or off")
	flag.Parse()

	if err := run(config{
		duration:    *duration,
		warmup:      *warmup,
		concurrency: *concurrency,
		threads:     *threads,
		loader:      *loader,
		chp:         *chp,
	}); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// config holds the command-line settings.
type config struct {
	duration, warmup     time.Duration
	concurrency, threads int
	loader, chp          string
}

// target is one way of reaching the upstream.
type target struct {
	name string
	base string // URL up to and including routePath
}

func run(cfg config) error {
	useWrk, err := chooseLoader(cfg.loader)
	if err != nil {
		return err
	}
	upstream, err := serve(upstreamHandler())
	if err != nil {
		return fmt.Errorf("start upstream: %w", err)
	}
	defer upstream.Close()
	upstreamURL := "http://" + upstream.Addr

	table := proxy.NewTable()
	u, err := url.Parse(upstreamURL)
	if err != nil {
		return fmt.Errorf("parse upstream url: %w", err)
	}
	table.Set("bench", "c", u, "bench")
	p := proxy.New(proxy.Options{
		Table:       table,
		StripCookie: func(name string) bool { return name == "labhub-session" },
		Logger:      slog.New(slog.DiscardHandler),
	})
	defer p.Close()
	front, err := serve(p)
	if err != nil {
		return fmt.Errorf("start proxy: %w", err)
	}
	defer front.Close()

	targets := []target{
		{name: "direct", base: upstreamURL + routePath},
		{name: "labhub proxy", base: "http://" + front.Addr + routePath},
	}
	if cfg.chp != "off" {
		c, err := startCHP(upstreamURL)
		switch {
		case err == nil:
			defer c.stop()
			targets = append(targets, target{name: "configurable-http-proxy " + c.version, base: c.base + routePath})
		case cfg.chp == "on":
			return fmt.Errorf("start configurable-http-proxy: %w", err)
		default:
			fmt.Fprintf(os.Stderr, "configurable-http-proxy not measured: %v\n", err)
		}
	}

	loaderName := "built-in Go generator"
	if useWrk {
		loaderName = "wrk"
	}
	fmt.Printf("%s, %d CPUs, %s, %d connections, %s per run (after %s warm-up)\n\n",
		runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), loaderName, cfg.concurrency, cfg.duration, cfg.warmup)
	fmt.Println("| body | path | requests/s | p50 | p99 | errors |")
	fmt.Println("|---|---|---:|---:|---:|---:|")
	for _, size := range sizes {
		for _, t := range targets {
			url := t.base + strconv.Itoa(size.n)
			if err := check(url, size.n); err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			load := func(d time.Duration) (result, error) {
				if useWrk {
					return runWrk(url, d, cfg.concurrency, cfg.threads)
				}
				return runGo(url, d, cfg.concurrency, size.n)
			}
			if cfg.warmup > 0 {
				if _, err := load(cfg.warmup); err != nil {
					return fmt.Errorf("warm up %s: %w", t.name, err)
				}
			}
			r, err := load(cfg.duration)
			if err != nil {
				return fmt.Errorf("measure %s: %w", t.name, err)
			}
			fmt.Printf("| %s | %s | %.0f | %s | %s | %d |\n",
				size.name, t.name, r.rps, fmtDuration(r.p50), fmtDuration(r.p99), r.errors)
		}
	}
	return nil
}

// chooseLoader reports whether wrk will generate the load.
func chooseLoader(name string) (bool, error) {
	_, err := exec.LookPath("wrk")
	switch name {
	case "auto":
		return err == nil, nil
	case "wrk":
		if err != nil {
			return false, fmt.Errorf("find wrk: %w", err)
		}
		return true, nil
	case "go":
		return false, nil
	}
	return false, fmt.Errorf("unknown loader %q", name)
}

// upstreamHandler serves a body whose size in bytes is the last path
// segment, as a Jupyter file download would, with a known length.
func upstreamHandler() http.Handler {
	bodies := map[string][]byte{}
	for _, s := range sizes {
		bodies[strconv.Itoa(s.n)] = bytes.Repeat([]byte("x"), s.n)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := bodies[r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
}

// server is an HTTP server on a loopback port.
type server struct {
	Addr string
	srv  *http.Server
}

// serve starts h on a free loopback port.
func serve(h http.Handler) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s := &server{Addr: ln.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server.
func (s *server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}

// check fetches url once and verifies the body size, so a misrouted proxy
// fails loudly instead of producing fast 404s.
func check(url string, size int) error {
	res, err := http.Get(url)
	if err != nil {
		return fmt.Errorf("check %s: %w", url, err)
	}
	defer res.Body.Close()
	n, err := discard(res)
	if err != nil {
		return fmt.Errorf("check %s: read body: %w", url, err)
	}
	if res.StatusCode != http.StatusOK || n != int64(size) {
		return fmt.Errorf("check %s: got %d with %d bytes, want 200 with %d", url, res.StatusCode, n, size)
	}
	return nil
}

// fmtDuration prints a latency with a unit suited to its size.
func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	default:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
}

// errNoPercentiles is returned when wrk's output lacks its latency table.
var errNoPercentiles = errors.New("no latency distribution in wrk output")
