package gnetengine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/engine/pipeline"
)

// Options configures a Server. They are the goroutine engine's options.
type Options struct {
	// Pipeline serves the requests; the engine reads and writes them.
	Pipeline *pipeline.Pipeline
	// Listeners are the listeners to serve, as configured at start-up.
	// Their addresses and timeouts are fixed for the process's life;
	// trusted proxies and everything route-related follow reloads.
	Listeners []config.Listener
	// Log receives operational logs.
	Log *slog.Logger
	// EventLoops is the number of event loops per listener; zero means one
	// per CPU.
	EventLoops int
}

// Server serves every configured listener on gnet event loops.
type Server struct {
	p     *pipeline.Pipeline
	log   *slog.Logger
	loops int

	listeners []*listener
	draining  atomic.Bool

	// Goroutines the loops start for work that may wait (a dial, a chain
	// with a filter that may wait) are counted here, and Shutdown waits
	// for them: none outlives the server.
	offMu    sync.Mutex
	stopping bool
	off      sync.WaitGroup
}

// New prepares the listeners; Start binds them. TLS listeners are refused:
// gnet has no TLS, and terminating TLS on the loop is future work.
func New(opts Options) (*Server, error) {
	if opts.Pipeline == nil {
		return nil, errors.New("gnetengine: nil pipeline")
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{p: opts.Pipeline, log: log, loops: opts.EventLoops}
	for _, lc := range opts.Listeners {
		if lc.TLS != nil {
			return nil, fmt.Errorf("cannot serve listener %q: the gnet engine does not terminate TLS", lc.Name)
		}
		s.listeners = append(s.listeners, &listener{s: s, name: lc.Name, cfg: lc, info: pipeline.NewListener(lc)})
	}
	return s, nil
}

// goOffLoop runs fn on a goroutine the server owns, for work a loop must
// not wait for. It reports false, without running fn, once the server is
// stopping.
func (s *Server) goOffLoop(fn func()) bool {
	s.offMu.Lock()
	defer s.offMu.Unlock()
	if s.stopping {
		return false
	}
	s.off.Add(1)
	go func() {
		defer s.off.Done()
		fn()
	}()
	return true
}

// waitOffLoop stops goOffLoop and waits for what it started, until ctx
// is done.
func (s *Server) waitOffLoop(ctx context.Context) error {
	s.offMu.Lock()
	s.stopping = true
	s.offMu.Unlock()
	done := make(chan struct{})
	go func() {
		s.off.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cannot stop the event loops' helper goroutines: %w", ctx.Err())
	}
}

// Start binds every listener and serves in the background. It returns once
// all listeners are bound, or the first bind error.
func (s *Server) Start() error {
	for i, l := range s.listeners {
		if err := l.start(); err != nil {
			for _, prev := range s.listeners[:i] {
				prev.stop(context.Background())
			}
			return err
		}
		s.log.Info("listening", "listener", l.name, "addr", l.addr.String(), "engine", "gnet", "tls", false)
	}
	return nil
}

// Addrs returns the bound address of each listener, in config order.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, 0, len(s.listeners))
	for _, l := range s.listeners {
		if l.addr != nil {
			out = append(out, l.addr)
		}
	}
	return out
}

// Shutdown stops taking new connections, lets in-flight requests finish
// (until ctx is done), closes idle keep-alive connections and stops the
// event loops.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	// Idle keep-alive connections close at once: each loop sweeps now.
	for _, l := range s.listeners {
		l.sweepAll()
	}
	var err error
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
wait:
	for s.p.InFlight() > 0 {
		select {
		case <-ctx.Done():
			err = fmt.Errorf("cannot drain %d in-flight requests: %w", s.p.InFlight(), ctx.Err())
			break wait
		case <-tick.C:
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(s.listeners))
	for i, l := range s.listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.stop(ctx)
		}()
	}
	wg.Wait()
	errs = append(errs, err, s.waitOffLoop(ctx))
	return errors.Join(errs...)
}

// InFlight returns the number of requests being served (by every engine
// of the pipeline).
func (s *Server) InFlight() int64 { return s.p.InFlight() }

// EventLoops returns how many event loops the server runs: EventLoops, or
// gnet's default of one per CPU, for each listener. gnet gives no way to
// ask, and the loops' states (listener.loops) are made only at their first
// connection, so this follows the rule gnet applies when it starts them.
func (s *Server) EventLoops() int {
	per := s.loops
	if per <= 0 {
		per = runtime.NumCPU()
	}
	return per * len(s.listeners)
}

// listener is one gnet engine serving one configured listener. It is the
// engine's event handler for both its client connections and the upstream
// connections its loops open.
type listener struct {
	gnet.BuiltinEventEngine
	s    *Server
	name string
	cfg  config.Listener
	info pipeline.Listener

	eng    gnet.Engine
	addr   net.Addr
	booted chan struct{}
	done   chan error

	loopsMu sync.Mutex
	loops   map[gnet.EventLoop]*loop
}

func (l *listener) start() error {
	l.booted = make(chan struct{})
	l.done = make(chan error, 1)
	l.loops = make(map[gnet.EventLoop]*loop)
	opts := []gnet.Option{
		gnet.WithMulticore(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithReuseAddr(true),
		gnet.WithLogger(gnetLogger{l.s.p}),
	}
	if l.s.loops > 0 {
		opts = append(opts, gnet.WithNumEventLoop(l.s.loops))
	}
	go func() {
		l.done <- gnet.Run(l, "tcp://"+l.cfg.Listen, opts...)
	}()
	select {
	case <-l.booted:
	case err := <-l.done:
		return fmt.Errorf("cannot listen on %s (listener %q): %w", l.cfg.Listen, l.name, err)
	}
	addr, err := l.boundAddr()
	if err != nil {
		_ = l.stop(context.Background())
		return fmt.Errorf("cannot find the address of listener %q: %w", l.name, err)
	}
	l.addr = addr
	return nil
}

// boundAddr asks the kernel which port the listener got (":0" in config).
func (l *listener) boundAddr() (net.Addr, error) {
	fd, err := l.eng.Dup()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, err
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To4(), Port: a.Port}, nil
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port, Zone: zoneName(a.ZoneId)}, nil
	}
	return nil, fmt.Errorf("unexpected socket address %T", sa)
}

func zoneName(id uint32) string {
	if id == 0 {
		return ""
	}
	if ifi, err := net.InterfaceByIndex(int(id)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(id), 10)
}

func (l *listener) stop(ctx context.Context) error {
	if err := l.eng.Stop(ctx); err != nil {
		return fmt.Errorf("cannot stop listener %q: %w", l.name, err)
	}
	select {
	case <-l.done:
	case <-ctx.Done():
		return fmt.Errorf("cannot stop listener %q: %w", l.name, ctx.Err())
	}
	return nil
}

// OnBoot records the engine once it accepts connections.
func (l *listener) OnBoot(eng gnet.Engine) gnet.Action {
	l.eng = eng
	close(l.booted)
	return gnet.None
}

// sweepAll has every loop of the listener sweep its connections now.
func (l *listener) sweepAll() {
	l.loopsMu.Lock()
	defer l.loopsMu.Unlock()
	for _, lp := range l.loops {
		_ = lp.el.Execute(context.Background(), lp.sweepTask)
	}
}

// loopOf returns the state of the event loop c belongs to, creating it on
// the loop's first connection. It runs once per connection, not per
// request.
func (l *listener) loopOf(c gnet.Conn) *loop {
	el := c.EventLoop()
	l.loopsMu.Lock()
	lp := l.loops[el]
	if lp == nil {
		lp = newLoop(l, el)
		l.loops[el] = lp
	}
	l.loopsMu.Unlock()
	return lp
}

// OnOpen adopts a new client connection, or an upstream connection the
// loop dialed.
func (l *listener) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if u, ok := c.Context().(*upConn); ok {
		u.opened(c)
		return nil, gnet.None
	}
	if l.s.draining.Load() {
		return nil, gnet.Close
	}
	lp := l.loopOf(c)
	cc := lp.newClient(c)
	c.SetContext(cc)
	return nil, gnet.None
}

// OnTraffic runs when a socket has bytes; it must not block.
func (l *listener) OnTraffic(c gnet.Conn) gnet.Action {
	switch x := c.Context().(type) {
	case *clientConn:
		lp := x.lp
		lp.beginTurn()
		x.onTraffic()
		lp.endTurn()
	case *upConn:
		lp := x.lp
		lp.beginTurn()
		x.onTraffic()
		lp.endTurn()
	default:
		return gnet.Close
	}
	return gnet.None
}

// OnClose releases the connection's state.
func (l *listener) OnClose(c gnet.Conn, err error) gnet.Action {
	switch x := c.Context().(type) {
	case *clientConn:
		x.onClose()
	case *upConn:
		x.onClose(err)
	}
	return gnet.None
}

// gnetLogger routes gnet's own messages to the throttled log.
type gnetLogger struct{ p *pipeline.Pipeline }

func (g gnetLogger) Debugf(string, ...any) {}
func (g gnetLogger) Infof(string, ...any)  {}
func (g gnetLogger) Warnf(format string, args ...any) {
	g.p.Warn("gnet", "msg", fmt.Sprintf(format, args...))
}
func (g gnetLogger) Errorf(format string, args ...any) {
	g.p.Warn("gnet", "msg", fmt.Sprintf(format, args...))
}
func (g gnetLogger) Fatalf(format string, args ...any) {
	g.p.Warn("gnet", "msg", fmt.Sprintf(format, args...))
}
