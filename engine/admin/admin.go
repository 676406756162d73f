// Package admin serves the operator endpoints: Prometheus metrics, liveness
// and readiness. It runs on its own listener (loopback by default) so that
// nothing about the proxy's internals is reachable from the data plane.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Options configures the admin server.
type Options struct {
	// Listen is the admin address.
	Listen string
	// Ready reports whether the proxy should receive traffic; /readyz
	// answers 503 when it returns a non-empty reason.
	Ready func() (notReady string)
	// WriteMetrics writes every metric set in Prometheus text format.
	WriteMetrics func(w io.Writer)
	// Log receives operational logs.
	Log *slog.Logger
	// Extra adds more handlers (the dashboard, later) to the admin mux.
	Extra map[string]http.Handler
	// Token, if set, must be presented as "Authorization: Bearer TOKEN"
	// on every request except /healthz.
	Token string
}

// Server is the admin HTTP server.
type Server struct {
	srv *http.Server
	ln  net.Listener
	log *slog.Logger
}

// New builds the admin server.
func New(opts Options) *Server {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		if opts.WriteMetrics != nil {
			opts.WriteMetrics(w)
		}
		metrics.WriteProcessMetrics(w)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if opts.Ready != nil {
			if why := opts.Ready(); why != "" {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = fmt.Fprintf(w, "not ready: %s\n", why)
				return
			}
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	// Profiling, for "profile before optimizing"; the admin listener is
	// loopback-only by default.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	for pattern, h := range opts.Extra {
		mux.Handle(pattern, h)
	}
	var h http.Handler = mux
	if opts.Token != "" {
		h = requireToken(opts.Token, mux)
	}
	return &Server{
		srv: &http.Server{
			Addr:              opts.Listen,
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout:       60 * time.Second,
		},
		log: log,
	}
}

// Start binds the admin listener and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.srv.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on admin address %s: %w", s.srv.Addr, err)
	}
	s.ln = ln
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin listener stopped", "err", err)
		}
	}()
	s.log.Info("admin listening", "addr", ln.Addr().String())
	return nil
}

// Addr returns the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops the admin server.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// requireToken guards every admin endpoint but liveness with a bearer
// token, compared in constant time.
func requireToken(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			sum := sha256.Sum256([]byte(got))
			if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="tollgate-admin"`)
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, `{"type":"urn:tollgate:problem:admin.unauthorized","title":"admin token required","status":401,"reason":"admin.unauthorized"}`+"\n")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
