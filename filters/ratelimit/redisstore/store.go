package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

//go:embed gcra.lua
var gcraSource string

// Errors a Store returns besides the client's own.
var (
	// ErrOpen is returned without calling Redis while the breaker is open.
	ErrOpen = errors.New("redisstore: breaker open after a failed call")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("redisstore: store closed")
	// ErrReply is wrapped around a reply the script cannot have sent.
	ErrReply = errors.New("redisstore: unexpected reply")
)

// Options configure a Store. Zero values take the defaults noted.
type Options struct {
	// Addresses are host:port of one node, of some Cluster nodes (the rest
	// are discovered), or of the Sentinels when MasterSet is set.
	Addresses []string
	// MasterSet is the Sentinel master name; empty for a single node or a
	// Cluster (which is detected).
	MasterSet string
	// Username and Password authenticate with AUTH (ACL user or default).
	Username, Password string
	// TLS, when set, is used for every connection.
	TLS TLSConfig
	// DialTimeout bounds connecting, and how long a connection may go
	// unanswered (the client's keep-alive PING) before it is dropped and
	// its calls fail (default 1s).
	DialTimeout time.Duration
	// Timeout bounds one decision, queueing included (default 50ms).
	Timeout time.Duration
	// BreakerInterval is how long the breaker stays open after a failure
	// (default 1s).
	BreakerInterval time.Duration
}

// TLSConfig selects TLS for the connections to Redis.
type TLSConfig struct {
	// Enabled turns TLS on.
	Enabled bool
	// CAFile is a PEM bundle trusted instead of the system roots.
	CAFile string
	// CertFile and KeyFile are a client certificate, for servers that
	// require one (tls-auth-clients).
	CertFile, KeyFile string
	// ServerName overrides the name checked in the server's certificate.
	ServerName string
}

// Defaults.
const (
	DefaultDialTimeout     = time.Second
	DefaultTimeout         = 50 * time.Millisecond
	DefaultBreakerInterval = time.Second
)

// Store runs GCRA decisions in Redis. It is safe for concurrent use.
type Store struct {
	opts   rueidis.ClientOption
	script *rueidis.Lua

	timeout time.Duration
	breaker breaker

	mu     sync.Mutex // guards client creation and Close
	client atomic.Pointer[rueidis.Client]
	closed atomic.Bool
}

// New checks o and prepares a Store; it does not connect (the first call
// does), so a proxy can start while Redis is down.
func New(o Options) (*Store, error) {
	if len(o.Addresses) == 0 {
		return nil, errors.New("cannot build redis store: no addresses")
	}
	for _, a := range o.Addresses {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("cannot build redis store: address %q: %w", a, err)
		}
	}
	o.DialTimeout = orDefault(o.DialTimeout, DefaultDialTimeout)
	o.Timeout = orDefault(o.Timeout, DefaultTimeout)
	o.BreakerInterval = orDefault(o.BreakerInterval, DefaultBreakerInterval)
	co := rueidis.ClientOption{
		InitAddress:      o.Addresses,
		Username:         o.Username,
		Password:         o.Password,
		Dialer:           net.Dialer{Timeout: o.DialTimeout},
		ConnWriteTimeout: o.DialTimeout,
		DisableCache:     true, // no client-side caching: every decision must reach the server
		ClientName:       "tollgate-ratelimit",
	}
	if o.TLS.Enabled {
		tc, err := o.TLS.config()
		if err != nil {
			return nil, err
		}
		co.TLSConfig = tc
	}
	if o.MasterSet != "" {
		co.Sentinel = rueidis.SentinelOption{MasterSet: o.MasterSet, Username: o.Username, Password: o.Password, TLSConfig: co.TLSConfig, Dialer: co.Dialer}
	}
	s := &Store{opts: co, script: rueidis.NewLuaScript(gcraSource), timeout: o.Timeout}
	s.breaker.interval = int64(o.BreakerInterval)
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Reply is one decision.
type Reply struct {
	// Granted is how many requests were admitted (0: refused).
	Granted int64
	// TATAfter is the key's TAT after the decision minus the Redis clock's
	// now, in microseconds: what Remaining, Reset and RetryAfter are
	// computed from.
	TATAfter int64
}

// Take asks for up to n requests (n ≥ 1) of the key with emission
// interval interval and tolerance tolerance (both microseconds), or gives
// back -n when n < 0. It makes one round trip, or none while the breaker
// is open (ErrOpen).
func (s *Store) Take(ctx context.Context, key string, interval, tolerance, n int64) (Reply, error) {
	return s.take(ctx, key, interval, tolerance, n, "")
}

// takeAt is Take on a given clock, for tests comparing the script with the
// local limiter.
func (s *Store) takeAt(ctx context.Context, key string, interval, tolerance, n, now int64) (Reply, error) {
	return s.take(ctx, key, interval, tolerance, n, strconv.FormatInt(now, 10))
}

func (s *Store) take(ctx context.Context, key string, interval, tolerance, n int64, now string) (Reply, error) {
	if s.closed.Load() {
		return Reply{}, ErrClosed
	}
	t := time.Now().UnixNano()
	if !s.breaker.allow(t) {
		return Reply{}, ErrOpen
	}
	c, err := s.clientFor()
	if err != nil {
		s.breaker.failure(time.Now().UnixNano())
		return Reply{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	args := []string{strconv.FormatInt(interval, 10), strconv.FormatInt(tolerance, 10), strconv.FormatInt(n, 10), now}
	vs, err := s.script.Exec(ctx, c, []string{key}, args).ToArray()
	if err != nil {
		s.breaker.failure(time.Now().UnixNano())
		return Reply{}, fmt.Errorf("cannot run rate limit script: %w", err)
	}
	if len(vs) != 2 {
		s.breaker.failure(time.Now().UnixNano())
		return Reply{}, fmt.Errorf("%w: %d values", ErrReply, len(vs))
	}
	g, err1 := vs[0].AsInt64()
	a, err2 := vs[1].AsInt64()
	if err := errors.Join(err1, err2); err != nil {
		s.breaker.failure(time.Now().UnixNano())
		return Reply{}, fmt.Errorf("%w: %w", ErrReply, err)
	}
	s.breaker.success()
	return Reply{Granted: g, TATAfter: a}, nil
}

// clientFor returns the client, making it on first use.
func (s *Store) clientFor() (rueidis.Client, error) {
	if c := s.client.Load(); c != nil {
		return *c, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if c := s.client.Load(); c != nil {
		return *c, nil
	}
	c, err := rueidis.NewClient(s.opts)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to redis %v: %w", s.opts.InitAddress, err)
	}
	s.client.Store(&c)
	return c, nil
}

// Close closes the client; calls after it return ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Swap(true) {
		return nil
	}
	if c := s.client.Load(); c != nil {
		(*c).Close()
	}
	return nil
}

// breaker is a circuit breaker with one probe: closed, it lets every call
// through; after a failure it is open for interval, refusing every call;
// then one call (the probe) goes through, and its outcome closes the
// breaker or opens it for another interval.
type breaker struct {
	interval int64 // ns
	open     atomic.Bool
	until    atomic.Int64 // ns, when the next probe may go
	probing  atomic.Bool
}

func (b *breaker) allow(now int64) bool {
	if !b.open.Load() {
		return true // Fast path
	}
	if now < b.until.Load() {
		return false
	}
	return b.probing.CompareAndSwap(false, true)
}

func (b *breaker) success() {
	if b.open.Load() {
		b.open.Store(false)
		b.probing.Store(false)
	}
}

func (b *breaker) failure(now int64) {
	b.until.Store(now + b.interval)
	b.open.Store(true)
	b.probing.Store(false)
}

// Open reports whether the breaker is refusing calls now.
func (s *Store) Open() bool { return s.breaker.open.Load() }
