package proxy

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// newTransport returns the transport used when Options.Transport is nil.
func newTransport() *http.Transport {
	return &http.Transport{
		// Containers sit on a private network. An HTTP_PROXY meant for
		// image pulls or outbound traffic must never capture them.
		Proxy: nil,
		DialContext: (&net.Dialer{
			// A stopped container's address usually stops answering
			// rather than refusing, so bound the wait and show the
			// "unavailable" page instead of hanging.
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConnsPerHost:   100,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Pass encodings through untouched; otherwise the transport asks
		// for gzip on the client's behalf and decompresses the reply.
		DisableCompression: true,
		// No ResponseHeaderTimeout: a kernel request or a large save may
		// legitimately take minutes before the first byte.
	}
}

// bufferSize is the copy buffer for response bodies, ReverseProxy's own
// default size.
const bufferSize = 32 << 10

// buffers recycles copy buffers across requests so that a busy proxy does
// not allocate 32 KiB per response.
var buffers = sync.Pool{New: func() any { b := make([]byte, bufferSize); return &b }}

// bufferPool adapts buffers to httputil.BufferPool.
type bufferPool struct{}

// Get returns a buffer of bufferSize bytes.
func (bufferPool) Get() []byte { return *buffers.Get().(*[]byte) }

// Put returns b for reuse.
func (bufferPool) Put(b []byte) {
	if cap(b) == bufferSize {
		b = b[:bufferSize]
		buffers.Put(&b)
	}
}
