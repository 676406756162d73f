// Package upstream keeps the keep-alive connection pools to backends and
// spreads requests over a pool's targets round-robin.
//
// Why our own round-robin instead of fasthttp's LBClient: LBClient picks the
// least-loaded client, which on a loopback benchmark starves all but one
// target; operators coming from nginx expect plain round-robin, with a dead
// target skipped for the next one when the connection cannot even be made
// (the request was never sent, so retrying it elsewhere is safe for any
// method).
//
// Why a target that could not be connected to is then left out for
// FailTimeout (nginx's fail_timeout, with max_fails 1): otherwise every
// request whose turn falls on it pays the failed connect first, which for
// a target that drops packets is the whole connect timeout. It is left out
// only while another target of the pool is not: with every target down,
// all are tried as before (Envoy's panic threshold, not nginx's "no live
// upstreams"), so a one-target upstream behaves as if there were no such
// rule. The state lives here, shared by both engines' connection pools and
// every event loop: a target is down for everyone once anyone failed to
// reach it, and up again as soon as anyone reached it.
package upstream

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
)

// Options configures a Pool.
type Options struct {
	// Name identifies the pool in metrics and logs.
	Name string
	// Targets are host:port addresses.
	Targets []string
	// TLS dials the targets over TLS.
	TLS bool
	// TLSConfig overrides the client TLS settings (tests use it to trust a
	// local CA).
	TLSConfig *tls.Config
	// ConnectTimeout bounds dialing a target.
	ConnectTimeout time.Duration
	// Timeout bounds each read from the upstream: the wait for the response
	// headers and every gap between body chunks.
	Timeout time.Duration
	// WriteTimeout bounds each write of the request to the upstream.
	WriteTimeout time.Duration
	// IdleTimeout closes pooled connections idle for longer.
	IdleTimeout time.Duration
	// MaxConnections caps connections per target.
	MaxConnections int
	// FailTimeout is how long a target that could not be connected to is
	// left out while another target is up; zero never leaves one out.
	FailTimeout time.Duration
}

// Pool is a round-robin set of keep-alive clients, one per target.
type Pool struct {
	opts    Options
	clients []*fasthttp.HostClient
	next    atomic.Uint32
	// downUntil is, per target, when it may be tried again after a failed
	// connect (Unix ns); 0 when it is up.
	downUntil []atomic.Int64
	metrics   *metrics.Set
	now       func() int64 // Unix ns (tests set it)
}

// New builds a pool. Connections are made lazily.
func New(opts Options) (*Pool, error) {
	if len(opts.Targets) == 0 {
		return nil, errors.New("upstream: no targets")
	}
	p := &Pool{opts: opts, downUntil: make([]atomic.Int64, len(opts.Targets)), metrics: metrics.NewSet(), now: unixNano}
	for i, t := range opts.Targets {
		p.clients = append(p.clients, p.newClient(t))
		_ = p.metrics.NewGauge(fmt.Sprintf(`tollgate_upstream_target_up{upstream=%q,target=%q}`, opts.Name, t), func() float64 {
			if p.Up(i, p.now()) {
				return 1
			}
			return 0
		})
	}
	return p, nil
}

// Up reports whether target i may be tried at now (Unix ns): it has not
// failed a connect within FailTimeout.
func (p *Pool) Up(i int, now int64) bool {
	d := p.downUntil[i].Load()
	return d == 0 || now >= d
}

// Pick returns the target to try first from target i on (modulo the
// number of targets): i itself when it is up, else the next one that is,
// else i (every target is down: try them all). It reads the clock only
// when target i failed a connect, so the common case costs one atomic
// load.
func (p *Pool) Pick(i int) int {
	n := len(p.downUntil)
	i %= n
	if p.downUntil[i].Load() == 0 {
		return i
	}
	now := p.now()
	for k := 0; k < n; k++ {
		if j := (i + k) % n; p.Up(j, now) {
			return j
		}
	}
	return i
}

// Failed records that target i could not be connected to just now.
func (p *Pool) Failed(i int) {
	if d := p.opts.FailTimeout; d > 0 {
		p.downUntil[i].Store(p.now() + int64(d))
	}
}

func unixNano() int64 { return time.Now().UnixNano() }

// Reached records that a connection to target i was made.
func (p *Pool) Reached(i int) {
	if p.downUntil[i].Load() != 0 {
		p.downUntil[i].Store(0)
	}
}

// WritePrometheus writes tollgate_upstream_target_up for each target: 0
// while it is left out after a failed connect.
func (p *Pool) WritePrometheus(w io.Writer) { p.metrics.WritePrometheus(w) }

func (p *Pool) newClient(addr string) *fasthttp.HostClient {
	o := p.opts
	d := &idleDialer{connect: o.ConnectTimeout, read: o.Timeout, write: o.WriteTimeout}
	return &fasthttp.HostClient{
		Addr:                      addr,
		NoDefaultUserAgentHeader:  true,
		IsTLS:                     o.TLS,
		TLSConfig:                 o.TLSConfig,
		Dial:                      d.dial,
		MaxConns:                  o.MaxConnections,
		MaxIdleConnDuration:       o.IdleTimeout,
		MaxIdemponentCallAttempts: 1,
		DisablePathNormalizing:    true,
		StreamResponseBody:        true,
		// Deadlines are armed per read and write by idleDialer's
		// connections, so long streams (SSE, downloads) are bounded by
		// idle time rather than cut at an absolute deadline.
		ReadTimeout:  0,
		WriteTimeout: 0,
	}
}

// Name returns the pool's name.
func (p *Pool) Name() string { return p.opts.Name }

// TLS reports whether the pool dials its targets over TLS.
func (p *Pool) TLS() bool { return p.opts.TLS }

// Options returns the options the pool was built with.
func (p *Pool) Options() Options { return p.opts }

// Do sends req to the next target and reads the response headers into
// resp; the body is streamed (resp.BodyStream) when the upstream sent one.
// A target that cannot be connected to is skipped for the next one, and
// left out for FailTimeout.
func (p *Pool) Do(req *fasthttp.Request, resp *fasthttp.Response) error {
	n := len(p.clients)
	i := p.Pick(int(p.next.Add(1) % uint32(n)))
	var err error
	for attempt := 0; attempt < n; attempt++ {
		err = p.clients[i].Do(req, resp)
		if err == nil || !IsDialError(err) {
			// The request was sent: the target was reached.
			p.Reached(i)
			return err
		}
		p.Failed(i)
		i = p.Pick(i + 1)
	}
	return err
}

// Close drops the pool's idle connections.
func (p *Pool) Close() {
	for _, c := range p.clients {
		c.CloseIdleConnections()
	}
}

// IsDialError reports whether err happened before the request was sent.
func IsDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, fasthttp.ErrDialTimeout)
}

// IsTimeout reports whether err is an upstream timeout (answered 504).
func IsTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// idleDialer dials targets and wraps each connection so that every read and
// write re-arms its own deadline.
type idleDialer struct {
	connect, read, write time.Duration
}

func (d *idleDialer) dial(addr string) (net.Conn, error) {
	timeout := d.connect
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	if d.read <= 0 && d.write <= 0 {
		return c, nil
	}
	return &idleConn{Conn: c, read: d.read, write: d.write}, nil
}

// idleConn applies idle-style deadlines: each Read must make progress
// within read, each Write within write.
type idleConn struct {
	net.Conn
	read, write time.Duration
}

func (c *idleConn) Read(b []byte) (int, error) {
	if c.read > 0 {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.read)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(b)
}

func (c *idleConn) Write(b []byte) (int, error) {
	if c.write > 0 {
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.write)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(b)
}
