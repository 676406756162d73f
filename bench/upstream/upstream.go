package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// DefaultMaxPaths is the default bound on distinct paths counted one by one.
const DefaultMaxPaths = 1024

// shutdownGrace bounds how long Shutdown waits for open connections.
const shutdownGrace = 5 * time.Second

// Options configures a Server. The zero value is ready to use.
type Options struct {
	// MaxPaths bounds the number of distinct paths counted one by one;
	// requests to further paths are counted under OtherPaths. Zero means
	// DefaultMaxPaths.
	MaxPaths int
	// ErrorLog receives the HTTP server's rare error messages (broken
	// connections, malformed requests). Nil discards them.
	ErrorLog io.Writer
}

// Server is the demo upstream. Its methods are safe for concurrent use.
type Server struct {
	srv      *fasthttp.Server
	maxPaths int

	// done is closed by Shutdown; it ends streams, downloads and /slow waits.
	done   chan struct{}
	mu     sync.Mutex // guards closed, lns and streamConns
	closed bool
	lns    []net.Listener
	// streamConns are the connections writing a stream or download now;
	// Shutdown closes them, since a client that stopped reading would
	// otherwise block their writes for ever.
	streamConns map[net.Conn]struct{}
	shutOnce    sync.Once
	shutErr     error

	requests atomic.Uint64
	inFlight atomic.Int64
	streams  atomic.Int64
	orderSeq atomic.Uint64

	pathsMu    sync.RWMutex
	paths      map[string]*atomic.Uint64
	otherPaths atomic.Uint64

	bodies bodies
}

// Stats is a snapshot of a Server's counters, as served by GET /admin/stats.
type Stats struct {
	// Requests counts every request received, whatever its outcome.
	Requests uint64 `json:"requests_total"`
	// InFlight counts handlers running now (an event stream or download
	// still being written is counted in Streams instead).
	InFlight int64 `json:"in_flight"`
	// Streams counts event streams and downloads being written now.
	Streams int64 `json:"streams"`
	// Paths counts requests per exact path, as normalized by the HTTP server
	// (percent-decoded, dot segments removed, RFC 3986 §5.2.4).
	Paths map[string]uint64 `json:"paths"`
	// OtherPaths counts requests to paths past the per-path bound.
	OtherPaths uint64 `json:"other_paths"`
}

// New returns a Server configured by opts; it serves nothing until Serve.
func New(opts Options) *Server {
	s := &Server{
		maxPaths:    opts.MaxPaths,
		done:        make(chan struct{}),
		paths:       make(map[string]*atomic.Uint64),
		streamConns: make(map[net.Conn]struct{}),
		bodies:      newBodies(),
	}
	if s.maxPaths <= 0 {
		s.maxPaths = DefaultMaxPaths
	}
	logw := opts.ErrorLog
	if logw == nil {
		logw = io.Discard
	}
	s.srv = &fasthttp.Server{
		Handler:                      s.handle,
		Name:                         "tollgate-demo-upstream",
		ReadTimeout:                  30 * time.Second,
		IdleTimeout:                  60 * time.Second,
		MaxRequestBodySize:           maxRequestBody,
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
		Logger:                       writerLogger{w: logw},
	}
	return s
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("upstream: server closed")

// Serve accepts connections on ln until Shutdown, which makes it return nil.
// It may be called for several listeners; it closes ln when it returns.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrServerClosed
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()

	err := s.srv.Serve(ln)
	_ = ln.Close()
	if s.isClosed() {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot serve demo upstream on %s: %w", ln.Addr(), err)
	}
	return nil
}

// Shutdown stops accepting connections, ends event streams, downloads and
// /slow waits, and waits up to 5 seconds for open connections to close. It
// is safe to call more than once and before or without Serve.
func (s *Server) Shutdown() error {
	s.shutOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.done)
		// Close listeners here too: Serve may not have handed its listener
		// to the HTTP server yet, and would otherwise accept forever.
		for _, ln := range s.lns {
			_ = ln.Close()
		}
		for c := range s.streamConns {
			_ = c.Close()
		}
		clear(s.streamConns)
		s.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := s.srv.ShutdownWithContext(ctx); err != nil && !errors.Is(err, net.ErrClosed) {
			s.shutErr = fmt.Errorf("cannot shut down demo upstream: %w", err)
		}
	})
	return s.shutErr
}

// streamStarted registers c as writing a stream; it reports false, having
// closed nothing, if the server is shutting down.
func (s *Server) streamStarted(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.streams.Add(1)
	s.streamConns[c] = struct{}{}
	return true
}

// streamEnded undoes streamStarted.
func (s *Server) streamEnded(c net.Conn) {
	s.mu.Lock()
	delete(s.streamConns, c)
	s.mu.Unlock()
	s.streams.Add(-1)
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Requests returns the number of requests received so far.
func (s *Server) Requests() uint64 { return s.requests.Load() }

// PathRequests returns the number of requests received so far for the exact
// path p, as normalized by the HTTP server (no query string).
func (s *Server) PathRequests(p string) uint64 {
	s.pathsMu.RLock()
	c := s.paths[p]
	s.pathsMu.RUnlock()
	if c == nil {
		return 0
	}
	return c.Load()
}

// Stats returns a snapshot of the counters; the map is the caller's.
func (s *Server) Stats() Stats {
	st := Stats{
		Requests:   s.requests.Load(),
		InFlight:   s.inFlight.Load(),
		Streams:    s.streams.Load(),
		OtherPaths: s.otherPaths.Load(),
	}
	s.pathsMu.RLock()
	st.Paths = make(map[string]uint64, len(s.paths))
	for p, c := range s.paths {
		st.Paths[p] = c.Load()
	}
	s.pathsMu.RUnlock()
	return st
}

// ResetCounters sets the request counters back to zero (the gauges InFlight
// and Streams are left alone), so one server can serve several test cases.
func (s *Server) ResetCounters() {
	s.pathsMu.Lock()
	clear(s.paths)
	s.otherPaths.Store(0)
	s.requests.Store(0)
	s.pathsMu.Unlock()
}

// count records one request for path p.
func (s *Server) count(p []byte) {
	s.requests.Add(1)
	// Fast path: the path was seen before; the map lookup does not copy p.
	s.pathsMu.RLock()
	c := s.paths[string(p)]
	s.pathsMu.RUnlock()
	if c != nil {
		c.Add(1)
		return
	}
	s.countSlow(p)
}

// countSlow adds p to the table, or to OtherPaths once the table is full.
func (s *Server) countSlow(p []byte) {
	s.pathsMu.Lock()
	defer s.pathsMu.Unlock()
	c := s.paths[string(p)]
	if c == nil {
		if len(s.paths) >= s.maxPaths {
			s.otherPaths.Add(1)
			return
		}
		c = new(atomic.Uint64)
		s.paths[string(p)] = c
	}
	c.Add(1)
}

// writerLogger adapts an io.Writer to fasthttp.Logger.
type writerLogger struct{ w io.Writer }

func (l writerLogger) Printf(format string, args ...any) {
	_, _ = fmt.Fprintf(l.w, "demo-upstream: "+format+"\n", args...)
}
