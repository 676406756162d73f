package gnetengine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/tollgate-proxy/tollgate/engine"
	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/engine/forward"
)

// Options configures a Server. They are the default engine's options.
type Options struct {
	// Holder publishes the current runtime; the server loads it per request.
	Holder *engine.Holder
	// Listeners are the listeners to serve, as configured at start-up.
	// Their addresses and timeouts are fixed for the process's life;
	// trusted proxies and everything route-related follow reloads.
	Listeners []config.Listener
	// Log receives operational logs.
	Log *slog.Logger
	// Metrics receives the engine's process-wide metrics.
	Metrics *metrics.Set
	// EventLoops is the number of event loops per listener; zero means one
	// per CPU.
	EventLoops int
	// Recorder, if set, receives every request's record. With an audit log
	// the loop never waits for it: the end of each response is held until
	// the record is written, and in strict mode the request until its
	// decision record is (audit.go).
	Recorder *engine.Recorder
}

// Server serves every configured listener on gnet event loops.
type Server struct {
	holder    *engine.Holder
	recorder  *engine.Recorder
	log       *slog.Logger
	throttled *engine.ThrottledLogger
	loops     int

	listeners []*listener
	ids       *forward.RequestIDs

	inFlight    atomic.Int64
	draining    atomic.Bool
	parseErrors *metrics.Counter
	shed        *metrics.Counter
}

// New prepares the listeners; Start binds them. TLS listeners are refused:
// gnet has no TLS, and terminating TLS on the loop is future work.
func New(opts Options) (*Server, error) {
	if opts.Holder == nil {
		return nil, errors.New("gnetengine: nil runtime holder")
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	set := opts.Metrics
	if set == nil {
		set = metrics.NewSet()
	}
	s := &Server{
		holder:    opts.Holder,
		recorder:  opts.Recorder,
		log:       log,
		throttled: engine.NewThrottledLogger(log, 5*time.Second),
		loops:     opts.EventLoops,
	}
	ids, err := forward.NewRequestIDs()
	if err != nil {
		return nil, err
	}
	s.ids = ids
	// The engine label keeps these names apart from the default engine's,
	// so both engines can serve listeners of one process.
	_ = set.NewGauge(`tollgate_http_requests_in_flight{engine="gnet"}`, func() float64 { return float64(s.inFlight.Load()) })
	s.parseErrors = set.NewCounter(`tollgate_http_malformed_requests_total{engine="gnet"}`)
	s.shed = set.NewCounter(`tollgate_http_shed_requests_total{engine="gnet"}`)

	for _, lc := range opts.Listeners {
		if lc.TLS != nil {
			return nil, fmt.Errorf("cannot serve listener %q: the gnet engine does not terminate TLS", lc.Name)
		}
		s.listeners = append(s.listeners, &listener{s: s, name: lc.Name, cfg: lc})
	}
	return s, nil
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
		s.log.Info("listening", "listener", l.name, "addr", l.addr.String(), "engine", "gnet")
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
	var err error
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
wait:
	for s.inFlight.Load() > 0 {
		select {
		case <-ctx.Done():
			err = fmt.Errorf("cannot drain %d in-flight requests: %w", s.inFlight.Load(), ctx.Err())
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
	return errors.Join(append(errs, err)...)
}

// InFlight returns the number of requests being served.
func (s *Server) InFlight() int64 { return s.inFlight.Load() }

// listener is one gnet engine serving one configured listener. It is the
// engine's event handler for both its client connections and the upstream
// connections its loops open.
type listener struct {
	gnet.BuiltinEventEngine
	s    *Server
	name string
	cfg  config.Listener

	eng     gnet.Engine
	addr    net.Addr
	booted  chan struct{}
	done    chan error
	stopped chan struct{} // closed when the engine shuts down; ends the sweepers

	loopsMu sync.Mutex
	loops   map[gnet.EventLoop]*loop
}

func (l *listener) start() error {
	l.booted = make(chan struct{})
	l.done = make(chan error, 1)
	l.stopped = make(chan struct{})
	l.loops = make(map[gnet.EventLoop]*loop)
	opts := []gnet.Option{
		gnet.WithMulticore(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithReuseAddr(true),
		gnet.WithLogger(gnetLogger{l.s.throttled}),
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

// OnShutdown ends the loops' sweepers.
func (l *listener) OnShutdown(gnet.Engine) { close(l.stopped) }

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
		x.onTraffic()
	case *upConn:
		x.onTraffic()
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
type gnetLogger struct{ t *engine.ThrottledLogger }

func (g gnetLogger) Debugf(string, ...any) {}
func (g gnetLogger) Infof(string, ...any)  {}
func (g gnetLogger) Warnf(format string, args ...any) {
	g.t.Warn("gnet", "msg", fmt.Sprintf(format, args...))
}
func (g gnetLogger) Errorf(format string, args ...any) {
	g.t.Warn("gnet", "msg", fmt.Sprintf(format, args...))
}
func (g gnetLogger) Fatalf(format string, args ...any) {
	g.t.Warn("gnet", "msg", fmt.Sprintf(format, args...))
}
