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
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
)

// MaxResponseHead bounds an upstream response's status line and header
// fields, on both engines: larger is 502 upstream.bad_response. Why 64
// KiB: session cookies and security policies often pass fasthttp's 4 KiB
// default (nginx's 4–8 KiB proxy_buffer_size fails those backends too);
// Envoy allows 60 KiB.
const MaxResponseHead = 64 << 10

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
		Addr:                     addr,
		NoDefaultUserAgentHeader: true,
		IsTLS:                    o.TLS,
		TLSConfig:                o.TLSConfig,
		Dial:                     d.dial,
		MaxConns:                 o.MaxConnections,
		MaxIdleConnDuration:      o.IdleTimeout,
		// A request that met a connection closed before the first byte of
		// its response is sent again if it is idempotent (RFC 9110
		// §9.2.2), as nginx's proxy_next_upstream error does: the target
		// closed a keep-alive connection as it was being reused.
		MaxIdemponentCallAttempts: 3,
		RetryIfErr:                retryClosed,
		DisablePathNormalizing:    true,
		ReadBufferSize:            MaxResponseHead,
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
		if errors.Is(err, errStale) && !req.IsBodyStream() {
			// Nothing was sent. The target closed its idle connections,
			// likely all of them: drop those and send on a new one.
			p.clients[i].CloseIdleConnections()
			err = p.clients[i].Do(req, resp)
		}
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
// write re-arms its own deadline, and a keep-alive connection the target
// closed while it sat in the pool is noticed before a request is written
// on it (idleConn.Write).
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
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	ic := &idleConn{Conn: c, raw: raw, read: d.read, write: d.write}
	ic.peekFn = ic.peek
	return ic, nil
}

// retryClosed is the pool's fasthttp.RetryIfErrFunc: only a connection
// closed before any byte of the response (fasthttp reports io.EOF, then
// ErrConnectionClosed), and only for an idempotent method; never a
// timeout, nor a response cut short.
func retryClosed(req *fasthttp.Request, _ int, err error) (resetTimeout, retry bool) {
	return false, (errors.Is(err, io.EOF) || errors.Is(err, fasthttp.ErrConnectionClosed)) && idempotent(req.Header.Method())
}

// idempotent reports whether method is idempotent (RFC 9110 §9.2.2).
func idempotent(method []byte) bool {
	switch string(method) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

// errStale is what writing a request on a pooled connection returns when
// the target closed it (or sent bytes nobody asked for) while it was idle:
// nothing was sent, so the request may go again on another connection,
// whatever its method (Pool.Do).
var errStale = errors.New("upstream: the target closed the idle keep-alive connection")

// staleAfter is how long a connection must have been idle before an
// idempotent request is written on it for the check to run: a connection
// reused at once (under load) costs no extra system call, and should the
// target have closed it just then, the request is sent again
// (retryClosed).
const staleAfter = 10 * time.Millisecond

// idleConn applies idle-style deadlines: each Read must make progress
// within read, each Write within write. Why it also checks for a closed
// connection: fasthttp writes a request on a pooled connection without
// looking whether the target closed it meanwhile (a backend whose
// keep-alive timeout is shorter than ours: Node.js closes after 5 s), and
// then fails the request with a 502 although it was never sent. The event
// loop sees such a close as it happens and drops the connection; here a
// peek before the first write of a request does the same.
type idleConn struct {
	net.Conn
	raw         syscall.RawConn
	read, write time.Duration
	// readLast says the last operation was a read: the next write starts
	// a request on a connection that sat in the pool since lastRead.
	readLast bool
	lastRead time.Time
	peekFn   func(fd uintptr) bool
	peekBuf  [1]byte
	closed   bool
}

func (c *idleConn) Read(b []byte) (int, error) {
	now := time.Now()
	if c.read > 0 {
		if err := c.Conn.SetReadDeadline(now.Add(c.read)); err != nil {
			return 0, err
		}
	}
	c.readLast, c.lastRead = true, now
	return c.Conn.Read(b)
}

func (c *idleConn) Write(b []byte) (int, error) {
	now := time.Now()
	if c.readLast && (now.Sub(c.lastRead) >= staleAfter || !idempotentLine(b)) && c.closedByPeer() {
		return 0, errStale
	}
	c.readLast = false
	if c.write > 0 {
		if err := c.Conn.SetWriteDeadline(now.Add(c.write)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(b)
}

// idempotentLine reports whether the request whose first bytes are b has
// an idempotent method. A request that is not is checked before every
// reuse, since it cannot be sent again once it met a closed connection.
func idempotentLine(b []byte) bool {
	if i := bytes.IndexByte(b, ' '); i > 0 {
		return idempotent(b[:i])
	}
	return false
}

// closedByPeer peeks at the socket without waiting: an idle HTTP/1.1
// connection has nothing to read, so end of stream, an error, or any byte
// (a TLS close_notify, a stray response) means it cannot carry a request.
func (c *idleConn) closedByPeer() bool {
	c.closed = false
	if err := c.raw.Read(c.peekFn); err != nil {
		return true
	}
	return c.closed
}

// peek is closedByPeer's look at the socket, made once per connection as
// the method value peekFn, so the check allocates nothing.
func (c *idleConn) peek(fd uintptr) bool {
	n, _, err := syscall.Recvfrom(int(fd), c.peekBuf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	c.closed = err == nil || (err != syscall.EAGAIN && err != syscall.EINTR) || n > 0
	return true
}
