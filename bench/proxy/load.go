package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// result is what one measurement produced.
type result struct {
	rps      float64
	p50, p99 time.Duration
	errors   int
}

// runWrk drives url with wrk and parses its summary.
func runWrk(url string, d time.Duration, conns, threads int) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	threads = min(threads, conns)
	secs := max(1, int(d.Round(time.Second)/time.Second))
	cmd := exec.CommandContext(ctx, "wrk",
		"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", strconv.Itoa(secs)+"s", "--latency", url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("run wrk: %w: %s", err, out)
	}
	return parseWrk(out)
}

// parseWrk reads requests/s, the 50 % and 99 % latencies and the error
// counts from wrk's report.
func parseWrk(out []byte) (result, error) {
	var r result
	var got50, got99, gotRPS bool
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("parse requests/s %q: %w", f[1], err)
			}
			r.rps, gotRPS = v, true
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			v, err := parseWrkDuration(f[1])
			if err != nil {
				return r, err
			}
			if f[0] == "50%" {
				r.p50, got50 = v, true
			} else {
				r.p99, got99 = v, true
			}
		case len(f) >= 2 && strings.HasPrefix(sc.Text(), "  Non-2xx or 3xx responses:"):
			n, _ := strconv.Atoi(f[len(f)-1])
			r.errors += n
		case len(f) > 2 && f[0] == "Socket" && f[1] == "errors:":
			// "Socket errors: connect 0, read 0, write 0, timeout 0"
			for i := 3; i < len(f); i += 2 {
				n, _ := strconv.Atoi(strings.TrimSuffix(f[i], ","))
				r.errors += n
			}
		}
	}
	if !gotRPS {
		return r, fmt.Errorf("no requests/s in wrk output: %s", out)
	}
	if !got50 || !got99 {
		return r, errNoPercentiles
	}
	return r, nil
}

// parseWrkDuration reads wrk's latency notation, such as 512.00us, 1.23ms
// or 2.00s.
func parseWrkDuration(s string) (time.Duration, error) {
	// wrk writes microseconds as "us"; Go wants "us" or "µs", so it parses.
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("parse wrk latency %q: %w", s, err)
	}
	return d, nil
}

// runGo drives url from conns goroutines, each on its own keep-alive
// connection, until d has passed, and computes the same figures as wrk.
func runGo(url string, d time.Duration, conns, size int) (result, error) {
	transport := &http.Transport{
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		DisableCompression:  true,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}

	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      int
		wg        sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for range conns {
		wg.Go(func() {
			local := make([]time.Duration, 0, 1<<14)
			localErrs := 0
			for time.Now().Before(deadline) {
				t0 := time.Now()
				res, err := client.Get(url)
				if err != nil {
					localErrs++
					continue
				}
				n, err := discard(res)
				res.Body.Close()
				if err != nil || res.StatusCode != http.StatusOK || n != int64(size) {
					localErrs++
					continue
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, local...)
			errs += localErrs
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if len(latencies) == 0 {
		return result{}, fmt.Errorf("no request succeeded (%d errors)", errs)
	}
	slices.Sort(latencies)
	return result{
		rps:    float64(len(latencies)) / elapsed.Seconds(),
		p50:    percentile(latencies, 0.50),
		p99:    percentile(latencies, 0.99),
		errors: errs,
	}, nil
}

// percentile returns the q quantile of sorted latencies (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(float64(len(sorted))*q+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// bufs recycles read buffers across requests of the Go generator.
var bufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// discard reads and drops res's body, returning its length.
func discard(res *http.Response) (int64, error) {
	b := bufs.Get().(*[]byte)
	defer bufs.Put(b)
	return io.CopyBuffer(io.Discard, res.Body, *b)
}
