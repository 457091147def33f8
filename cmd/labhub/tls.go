package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/labhub/labhub/config"
)

// serverTLS returns the TLS configuration of the public listener, nil when
// Labhub serves plain HTTP, and the handler of the --http-listen listener:
// it answers ACME HTTP challenges and sends everything else to HTTPS. Only
// HTTP/1.1 is offered: notebook websockets and the proxy's streams are
// built and tested on it.
func serverTLS(cfg *config.Server) (*tls.Config, http.Handler, error) {
	toHTTPS := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://"+hostOnly(r.Host)+r.URL.RequestURI(), http.StatusMovedPermanently)
	})
	if domains := cfg.TLS.Domains(); len(domains) > 0 {
		client := &http.Client{Timeout: 60 * time.Second}
		if cfg.TLS.ACMECAFile != "" {
			pem, err := os.ReadFile(cfg.TLS.ACMECAFile)
			if err != nil {
				return nil, nil, fmt.Errorf("read ACME CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, nil, fmt.Errorf("ACME CA file %s holds no PEM certificate", cfg.TLS.ACMECAFile)
			}
			client.Transport = &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: &tls.Config{RootCAs: pool}}
		}
		cache := filepath.Join(cfg.DataDir, "acme")
		if err := os.MkdirAll(cache, 0o700); err != nil {
			return nil, nil, fmt.Errorf("create ACME cache: %w", err)
		}
		m := &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			Cache:      autocert.DirCache(cache),
			HostPolicy: autocert.HostWhitelist(domains...),
			Email:      cfg.TLS.ACMEEmail,
			Client:     &acme.Client{DirectoryURL: cfg.TLS.ACMEDirectory, HTTPClient: client},
		}
		// TLSConfig offers the TLS-ALPN challenge protocol besides HTTP.
		tc := m.TLSConfig()
		tc.NextProtos = []string{"http/1.1", acme.ALPNProto}
		tc.MinVersion = tls.VersionTLS12
		return tc, m.HTTPHandler(toHTTPS), nil
	}
	if cfg.LMS.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.LMS.TLSCert, cfg.LMS.TLSKey)
		if err != nil {
			return nil, nil, fmt.Errorf("load TLS certificate: %w", err)
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"},
			MinVersion: tls.VersionTLS12}, toHTTPS, nil
	}
	return nil, nil, nil
}

// hostOnly drops a port from a Host header.
func hostOnly(h string) string {
	for i := len(h) - 1; i >= 0; i-- {
		switch h[i] {
		case ':':
			return h[:i]
		case ']':
			return h
		}
	}
	return h
}
