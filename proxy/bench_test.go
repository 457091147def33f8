package proxy_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/labhub/labhub/proxy"
)

// benchUpstream serves a body of size bytes for every request.
func benchUpstream(b *testing.B, size int) *httptest.Server {
	b.Helper()
	body := bytes.Repeat([]byte("x"), size)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(size))
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// benchGet fetches url b.N times from parallel goroutines over keep-alive
// connections and reads every body.
func benchGet(b *testing.B, url string, size int) {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
	b.Cleanup(client.CloseIdleConnections)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 64<<10)
		for pb.Next() {
			res, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			n, err := io.CopyBuffer(io.Discard, res.Body, buf)
			res.Body.Close()
			if err != nil || n != int64(size) {
				b.Errorf("read %d bytes: %v", n, err)
				return
			}
		}
	})
}

// benchProxy measures GETs of size-byte bodies through the proxy.
func benchProxy(b *testing.B, size int) {
	up := benchUpstream(b, size)
	table := proxy.NewTable()
	table.Set("bench", "c", mustURL(b, up.URL), "k")
	p := proxy.New(proxy.Options{Table: table, StripCookie: isHubCookie})
	front := httptest.NewServer(p)
	b.Cleanup(func() {
		p.Close()
		front.Close()
	})
	benchGet(b, front.URL+"/user/bench/c/files/data", size)
}

func BenchmarkProxy1KiB(b *testing.B) { benchProxy(b, 1<<10) }
func BenchmarkProxy1MiB(b *testing.B) { benchProxy(b, 1<<20) }
func BenchmarkDirect1KiB(b *testing.B) {
	benchGet(b, benchUpstream(b, 1<<10).URL+"/user/bench/c/files/data", 1<<10)
}
func BenchmarkDirect1MiB(b *testing.B) {
	benchGet(b, benchUpstream(b, 1<<20).URL+"/user/bench/c/files/data", 1<<20)
}
