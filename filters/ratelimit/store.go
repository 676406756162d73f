package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/ratelimit/redisstore"
)

// RedisConfig is the shared store of the policies with store: redis.
type RedisConfig struct {
	// Addresses are host:port of the Redis node, of one or more Redis Cluster nodes (the rest are discovered), or of the Sentinels when master_set is set.
	Addresses []string `yaml:"addresses"`
	// MasterSet is the Sentinel master name; leave it empty for a single node or a Cluster.
	MasterSet string `yaml:"master_set"`
	// Username is the Redis ACL user (default: the default user).
	Username string `yaml:"username"`
	// Password authenticates the user, usually "${ENV}".
	Password string `yaml:"password"`
	// TLS, when set, encrypts the connections to Redis.
	TLS *RedisTLS `yaml:"tls"`
	// KeyPrefix starts every key the filter writes (default tollgate:rl), so several deployments can share one Redis.
	KeyPrefix string `yaml:"key_prefix"`
	// DialTimeout bounds connecting to Redis, and how long a connection may go unanswered (a keep-alive PING) before it is dropped (default 1s).
	DialTimeout filters.Duration `yaml:"dial_timeout"`
	// Timeout bounds one decision in Redis; past it the request gets the policy's on_store_error (default 50ms).
	Timeout filters.Duration `yaml:"timeout"`
	// BreakerInterval is how long after a failed call the filter stops calling Redis and applies on_store_error at once; then one call probes (default 1s).
	BreakerInterval filters.Duration `yaml:"breaker_interval"`
}

// RedisTLS configures TLS to Redis.
type RedisTLS struct {
	// CAFile is a PEM bundle of CAs trusted for Redis instead of the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile is a client certificate (PEM), for servers that require one.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the client certificate's private key (PEM).
	KeyFile string `yaml:"key_file"`
	// ServerName is the name checked in Redis's certificate (default: the host of the address).
	ServerName string `yaml:"server_name"`
}

const defaultKeyPrefix = "tollgate:rl"

// failMode is what a request gets while the store is unreachable.
type failMode uint8

const (
	failAllow failMode = iota + 1
	failDeny
	failLocal
)

var failModeNames = [...]string{failAllow: "allow", failDeny: "deny", failLocal: "local"}

// reasonStoreUnavailable refuses a request of a policy with
// on_store_error: deny while its store cannot be reached.
var reasonStoreUnavailable = filters.NewReason("ratelimit.store_unavailable", 503, filters.DecisionFailed, "rate limit store unavailable")

// shared is the part of a policy counted in Redis.
type shared struct {
	lease     bool
	leaseSize int64
	lowWater  int64 // a lease is refilled ahead when it falls to this
	leaseTTL  int64 // µs
	onError   failMode
	keyPrefix string // `<key_prefix>:{<policy>:`; the key ends with `}`
	owner     string // the filter instance: its route, or filters.<id> when shared
	leases    *leaseTable

	duration  *metrics.Histogram
	errors    *metrics.Counter
	fallbacks *metrics.Counter
	waits     *metrics.Counter // lease mode: requests that waited for a lease
}

// sharedPolicy validates the store keys of policy i and, for store: redis,
// attaches the shared part to p. Every problem of the policy is reported at
// once.
func sharedPolicy(spec filters.Spec, i int, pc PolicyConfig, rc *RedisConfig, p *policy) error {
	at := "policies[" + strconv.Itoa(i) + "] (" + pc.Name + ")"
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, spec.ErrorAt(at+"."+key, format, args...)) }
	switch pc.Store {
	case "", "local":
		for _, k := range []struct {
			name string
			set  bool
		}{{"mode", pc.Mode != ""}, {"lease", pc.Lease != 0}, {"lease_ttl", pc.LeaseTTL != 0}, {"on_store_error", pc.OnStoreError != ""}} {
			if k.set {
				bad(k.name, "applies only with store: redis")
			}
		}
		return errors.Join(errs...)
	case "redis":
	default:
		bad("store", "want local or redis, got %q", pc.Store)
		return errors.Join(errs...)
	}
	sh := &shared{}
	if rc == nil {
		bad("store", "redis needs the filter's redis block (addresses, …)")
	}
	switch pc.Mode {
	case "", "exact":
		if pc.Lease != 0 || pc.LeaseTTL != 0 {
			bad("lease", "applies only with mode: lease")
		}
	case "lease":
		sh.lease = true
	default:
		bad("mode", "want exact or lease, got %q", pc.Mode)
	}
	switch pc.OnStoreError {
	case "allow":
		sh.onError = failAllow
	case "deny":
		sh.onError = failDeny
	case "local":
		sh.onError = failLocal
	case "":
		bad("on_store_error", "required with store: redis: allow, deny or local")
	default:
		bad("on_store_error", "want allow, deny or local, got %q", pc.OnStoreError)
	}
	burst := pc.Burst // the limiter's, when the policy's own checks passed
	if burst == 0 {
		burst = pc.Rate
	}
	if p.lim != nil {
		burst = p.lim.Burst()
	}
	sh.leaseSize = pc.Lease
	if sh.leaseSize == 0 {
		sh.leaseSize = max(burst/20, 1)
	}
	if burst > 0 && (sh.leaseSize < 0 || sh.leaseSize > burst) {
		bad("lease", "want 1 to burst (%d), got %d", burst, pc.Lease)
	}
	sh.lowWater = sh.leaseSize / 2
	ttl := pc.LeaseTTL.D()
	if ttl == 0 {
		ttl = time.Second
	}
	if ttl < time.Millisecond {
		bad("lease_ttl", "want at least 1ms, got %s", ttl)
	}
	sh.leaseTTL = ttl.Microseconds()
	prefix := defaultKeyPrefix
	if rc != nil && rc.KeyPrefix != "" {
		prefix = rc.KeyPrefix
	}
	sh.keyPrefix = prefix + ":{" + pc.Name + ":"
	sh.owner = spec.Route
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if p.lim == nil {
		return nil // the policy's own problems are reported by buildPolicy
	}
	if sh.lease {
		sh.leases = newLeaseTable(p.lim.Capacity())
	}
	p.shared = sh
	return nil
}

func (f *Filter) anyShared() bool {
	for i := range f.policies {
		if f.policies[i].shared != nil {
			return true
		}
	}
	return false
}

func (f *Filter) anyLease() bool {
	for i := range f.policies {
		if sh := f.policies[i].shared; sh != nil && sh.lease {
			return true
		}
	}
	return false
}

// allLease reports whether every shared policy is in lease mode.
func (f *Filter) allLease() bool {
	for i := range f.policies {
		if sh := f.policies[i].shared; sh != nil && !sh.lease {
			return false
		}
	}
	return true
}

// checkRedis reports every problem of the filter's redis block, each at
// its setting.
func checkRedis(spec filters.Spec, rc *RedisConfig) []error {
	var errs []error
	if len(rc.Addresses) == 0 {
		errs = append(errs, spec.ErrorAt("redis.addresses", "want at least one host:port"))
	}
	if strings.ContainsAny(rc.KeyPrefix, "{}") {
		errs = append(errs, spec.ErrorAt("redis.key_prefix", "must not contain '{' or '}' (they delimit the key's hash tag), got %q", rc.KeyPrefix))
	}
	if (rc.TLS != nil) && (rc.TLS.CertFile == "") != (rc.TLS.KeyFile == "") {
		errs = append(errs, spec.ErrorAt("redis.tls", "set both cert_file and key_file, or neither"))
	}
	for _, d := range []struct {
		name string
		v    filters.Duration
	}{{"dial_timeout", rc.DialTimeout}, {"timeout", rc.Timeout}, {"breaker_interval", rc.BreakerInterval}} {
		if d.v < 0 {
			errs = append(errs, spec.ErrorAt("redis."+d.name, "want a positive duration, got %s", d.v.D()))
		}
	}
	return errs
}

// openStore makes the store (without connecting) and, for lease policies,
// starts the refill workers; build has checked rc with checkRedis.
func (f *Filter) openStore(spec filters.Spec, rc *RedisConfig) error {
	o := redisstore.Options{
		Addresses: rc.Addresses, MasterSet: rc.MasterSet, Username: rc.Username, Password: rc.Password,
		DialTimeout: rc.DialTimeout.D(), Timeout: rc.Timeout.D(), BreakerInterval: rc.BreakerInterval.D(),
	}
	if rc.TLS != nil {
		o.TLS = redisstore.TLSConfig{Enabled: true, CAFile: rc.TLS.CAFile, CertFile: rc.TLS.CertFile, KeyFile: rc.TLS.KeyFile, ServerName: rc.TLS.ServerName}
	}
	st, err := redisstore.New(o)
	if err != nil {
		return spec.ErrorAt("redis", "%v", err)
	}
	f.store = st
	if f.anyLease() {
		f.refills = make(chan refill, refillQueue)
		f.stop = make(chan struct{})
		for w := 0; w < refillWorkers; w++ {
			f.workers.Add(1)
			go f.refillLoop()
		}
	}
	return nil
}

// MayBlock reports that Handle may wait for Redis when a policy is shared:
// the gnet engine then asks TryHandle on its event loop and runs the rest
// of the chain off the loop when it would wait.
func (f *Filter) MayBlock() bool { return f.store != nil }

// Close stops the refill workers and closes the Redis client. It is called
// when the config generation is retired; it is safe to call twice.
func (f *Filter) Close() error {
	if f.store == nil {
		return nil
	}
	f.closeOnce.Do(func() {
		if f.stop != nil {
			close(f.stop)
			f.workers.Wait()
		}
		f.closeErr = f.store.Close()
	})
	return f.closeErr
}

// decidedBy records how a policy decided a request, to give its quota back
// when a later policy refuses.
type decidedBy uint8

const (
	byLocal decidedBy = iota // the local limiter (also on_store_error: local)
	byStore                  // a Redis round trip (mode: exact)
	byLease                  // a leased token
	byNone                   // nothing was taken (not asked, or on_store_error: allow)
)

// takeShared decides a shared policy. deny is set when the store failed
// and the policy's on_store_error is deny.
func (f *Filter) takeShared(ex *filters.Exchange, p *policy, h uint64, now int64) (r Result, by decidedBy, deny bool) {
	sh := p.shared
	var err error
	if sh.lease {
		r, err = f.takeLease(ex, p, h, now)
		by = byLease
	} else {
		var rep redisstore.Reply
		rep, err = f.call(p, p.storeKey(ex), 1)
		r, by = Result{Allowed: rep.Granted > 0, TAT: now + rep.TATAfter, Now: now}, byStore
	}
	if err == nil {
		return r, by, false
	}
	// Slow path: the store is down; the policy's fail mode decides.
	sh.fallbacks.Inc()
	ex.Fallback = "ratelimit"
	switch sh.onError {
	case failAllow:
		return Result{Allowed: true, TAT: now, Now: now}, byNone, false
	case failLocal:
		return p.lim.Take(h, now, true), byLocal, false
	}
	return Result{}, byNone, true
}

// call runs one decision in Redis, timing it and counting failures.
func (f *Filter) call(p *policy, key string, n int64) (redisstore.Reply, error) {
	start := time.Now()
	rep, err := f.store.Take(context.Background(), key, p.lim.interval, p.lim.tolerance, n)
	if errors.Is(err, redisstore.ErrOpen) {
		return rep, err // no call was made
	}
	p.shared.duration.UpdateDuration(start)
	if err != nil {
		p.shared.errors.Inc()
	}
	return rep, err
}

// giveBack returns the quota policies [0, n) took for a request that a
// later policy refused.
func (f *Filter) giveBack(ex *filters.Exchange, n int, hs *[MaxPolicies]uint64, by *[MaxPolicies]decidedBy) {
	for i := 0; i < n; i++ {
		p := &f.policies[i]
		switch by[i] {
		case byLocal:
			p.lim.Refund(hs[i])
		case byStore:
			_, _ = f.call(p, p.storeKey(ex), -1) // best effort: a failure costs the client one request
		case byLease:
			p.shared.leases.giveBack(hs[i])
		}
	}
}

// unavailable refuses a request of a policy with on_store_error: deny.
func (f *Filter) unavailable(ex *filters.Exchange, p *policy) filters.Verdict {
	ex.AddResponseHeader(headerRetryAfter, retryAfterOne)
	ex.AppendDetailString("rate limit store for policy \"")
	ex.AppendDetailString(p.name)
	ex.AppendDetailString("\" cannot be reached; the policy denies while it is down")
	return filters.Respond(reasonStoreUnavailable)
}

var retryAfterOne = []byte("1")

// storeKey is the policy's Redis key for ex: the same facts the local key
// hashes (the filter instance, whose table the local key lives in; the
// matched route when scope is route; then each component), written with
// their kinds and lengths so that boundaries cannot shift, and hashed with
// SHA-256 — the same on every instance, unlike the local key's random
// seed, and collision-resistant, since clients choose the inputs. The
// whole identity is one hash tag, so a key lives in one Cluster slot.
func (p *policy) storeKey(ex *filters.Exchange) string {
	var stack [512]byte
	b := appendField(stack[:0], 0xff, []byte(p.shared.owner))
	if p.perRoute {
		name := ""
		if ex.Route != nil {
			name = ex.Route.Name
		}
		b = appendField(b, 0, []byte(name))
	}
	for i := range p.key {
		c := &p.key[i]
		if c.kind == keyClientIP {
			ip := p.maskedIP(ex)
			b = appendField(b, byte(c.kind), ip[:])
			continue
		}
		b = appendField(b, byte(c.kind), p.componentValue(ex, c))
	}
	sum := sha256.Sum256(b)
	var enc [22]byte
	base64.RawURLEncoding.Encode(enc[:], sum[:16])
	return p.shared.keyPrefix + string(enc[:]) + "}"
}

func appendField(b []byte, kind byte, v []byte) []byte {
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// componentValue is the bytes of a component other than client_ip.
func (p *policy) componentValue(ex *filters.Exchange, c *component) []byte {
	switch c.kind {
	case keyPrincipal:
		return ex.Identity.Subject
	case keyTenant:
		return ex.Identity.Tenant
	case keyCredential:
		return ex.Identity.KeyID
	case keyMethod:
		return ex.Method
	case keyHeader:
		return ex.Header(c.arg)
	case keyParam:
		return ex.Params.Get(c.arg)
	}
	return nil
}

// maskedIP is the client address as the key sees it: IPv4 whole, IPv6 cut
// to the policy's prefix.
func (p *policy) maskedIP(ex *filters.Exchange) [16]byte {
	a := ex.ClientIP.Unmap()
	var ip [16]byte
	if a.Is4() {
		ip = a.As16()
	} else if a.IsValid() {
		ip = a.As16()
		for j := range ip {
			ip[j] &= p.v6mask[j]
		}
	}
	return ip
}

// newStoreMetrics adds a shared policy's store metrics to set.
func newStoreMetrics(set *metrics.Set, labels string, p *policy) {
	sh := p.shared
	sh.duration = set.NewHistogram(`tollgate_ratelimit_store_duration_seconds` + labels)
	sh.errors = set.NewCounter(`tollgate_ratelimit_store_errors_total` + labels)
	fl := labels[:len(labels)-1] + `,mode="` + failModeNames[sh.onError] + `"}`
	sh.fallbacks = set.NewCounter(`tollgate_ratelimit_store_fallbacks_total` + fl)
	sh.waits = set.NewCounter(`tollgate_ratelimit_lease_waits_total` + labels)
}
