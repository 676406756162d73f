package fasthttpengine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/engine/pipeline"
	"github.com/tollgate-proxy/tollgate/filters"
)

// Options configures a Server.
type Options struct {
	// Pipeline serves the requests; the engine reads and writes them.
	Pipeline *pipeline.Pipeline
	// Listeners are the listeners to serve, as configured at start-up.
	// Their addresses, TLS and timeouts are fixed for the process's life;
	// trusted proxies and everything route-related follow reloads.
	Listeners []config.Listener
	// Log receives operational logs.
	Log *slog.Logger
}

// Server serves every configured listener.
type Server struct {
	p   *pipeline.Pipeline
	log *slog.Logger

	listeners []*listener
	states    sync.Pool
}

type listener struct {
	name string
	cfg  config.Listener
	info pipeline.Listener
	srv  *fasthttp.Server
	ln   net.Listener
	tls  bool
	mtls bool
}

// New prepares the listeners; Start binds them.
func New(opts Options) (*Server, error) {
	if opts.Pipeline == nil {
		return nil, errors.New("fasthttpengine: nil pipeline")
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{p: opts.Pipeline, log: log}
	s.states.New = func() any { return new(reqState) }

	for _, lc := range opts.Listeners {
		l := &listener{name: lc.Name, cfg: lc}
		l.info = pipeline.NewListener(lc)
		l.srv = s.newFastServer(l)
		s.listeners = append(s.listeners, l)
	}
	return s, nil
}

func (s *Server) newFastServer(l *listener) *fasthttp.Server {
	lc := l.cfg
	return &fasthttp.Server{
		Handler:                      func(ctx *fasthttp.RequestCtx) { s.handle(l, ctx) },
		ErrorHandler:                 func(ctx *fasthttp.RequestCtx, err error) { s.handleParseError(l, ctx, err) },
		Name:                         "",
		NoDefaultServerHeader:        true,
		NoDefaultDate:                false,
		NoDefaultContentType:         true,
		DisablePreParseMultipartForm: true,
		StreamRequestBody:            true,
		Concurrency:                  lc.MaxConnections,
		ReadBufferSize:               int(lc.MaxHeaderBytes),
		WriteBufferSize:              16 << 10,
		// The request line and headers must arrive within HeaderTimeout
		// (slowloris); the body then gets ReadTimeout.
		ReadTimeout: lc.HeaderTimeout.D(),
		HeaderReceived: func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
			return fasthttp.RequestConfig{ReadTimeout: lc.ReadTimeout.D()}
		},
		IdleTimeout:        lc.IdleTimeout.D(),
		MaxRequestBodySize: int(lc.MaxBodyBytes),
		CloseOnShutdown:    true,
		Logger:             fastLogger{s.p},
		// WriteTimeout stays 0: the handler arms write deadlines itself,
		// whole-response for buffered bodies and per chunk for streams.
	}
}

// Start binds every listener and serves in the background. It returns once
// all listeners are bound, or the first bind error.
func (s *Server) Start() error {
	for _, l := range s.listeners {
		ln, err := net.Listen("tcp", l.cfg.Listen)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("cannot listen on %s (listener %q): %w", l.cfg.Listen, l.name, err)
		}
		if t := l.cfg.TLS; t != nil {
			tc, err := loadTLS(t)
			if err != nil {
				_ = ln.Close()
				s.closeListeners()
				return fmt.Errorf("listener %q: %w", l.name, err)
			}
			ln = tls.NewListener(ln, tc)
			l.tls = true
			l.mtls = tc.ClientCAs != nil
		}
		l.ln = newLineListener(ln, readerSize(l.srv.ReadBufferSize))
	}
	for _, l := range s.listeners {
		go func(l *listener) {
			if err := l.srv.Serve(l.ln); err != nil {
				s.log.Error("listener stopped", "listener", l.name, "err", err)
			}
		}(l)
		s.log.Info("listening", "listener", l.name, "addr", l.ln.Addr().String(), "engine", "fasthttp", "tls", l.tls)
	}
	return nil
}

// Addrs returns the bound address of each listener, in config order.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, 0, len(s.listeners))
	for _, l := range s.listeners {
		if l.ln != nil {
			out = append(out, l.ln.Addr())
		}
	}
	return out
}

func (s *Server) closeListeners() {
	for _, l := range s.listeners {
		if l.ln != nil {
			_ = l.ln.Close()
		}
	}
}

// Shutdown stops accepting, lets in-flight requests finish (until ctx is
// done), and closes idle keep-alive connections.
func (s *Server) Shutdown(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(s.listeners))
	for i, l := range s.listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.srv.ShutdownWithContext(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func loadTLS(t *config.TLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return nil, fmt.Errorf("cannot load TLS certificate %q and key %q: %w", t.Cert, t.Key, err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.MinVersion == "1.3" {
		tc.MinVersion = tls.VersionTLS13
	}
	if t.ClientCA != "" {
		pool, err := filters.CertPool(t.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("cannot load client CA file %q: %w", t.ClientCA, err)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
		if t.ClientAuth == "optional" {
			tc.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	return tc, nil
}

// fastLogger routes fasthttp's own messages to the throttled log.
type fastLogger struct{ p *pipeline.Pipeline }

func (l fastLogger) Printf(format string, args ...any) {
	l.p.Warn("fasthttp", "msg", fmt.Sprintf(format, args...))
}

// readerSize is the size of the bufio.Reader fasthttp reads a connection
// with, for a configured ReadBufferSize (fasthttp's default 4096 for 0,
// bufio's minimum 16).
func readerSize(n int) int {
	if n <= 0 {
		return 4096
	}
	return max(n, 16)
}
