package ratelimit

import (
	"errors"
	"fmt"
	"hash/maphash"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-proxy/tollgate/filters"
)

// Config is the filter's config block.
type Config struct {
	// Policies are the limits applied to every request; a request must pass all of them.
	Policies []PolicyConfig `yaml:"policies"`
	// Headers adds RateLimit and RateLimit-Policy to allowed responses too; refusals always carry them.
	Headers bool `yaml:"headers"`
	// Redis is the shared store of the policies that set store: redis, so that every instance with the same config counts against one limit.
	Redis *RedisConfig `yaml:"redis"`
}

// PolicyConfig is one limit.
type PolicyConfig struct {
	// Name identifies the policy in the RateLimit and RateLimit-Policy headers: letters, digits, '.', '_' and '-', at most 64.
	Name string `yaml:"name"`
	// Rate is the number of requests a key may make per period, on average.
	Rate int64 `yaml:"rate"`
	// Per is the period, a whole number of seconds; default 1s.
	Per filters.Duration `yaml:"per"`
	// Burst is the number of requests an idle key may make at once; default Rate.
	Burst int64 `yaml:"burst"`
	// Key lists what identifies a client: principal, tenant, credential, client_ip, method, header:<Name>, param:<name>; empty means one counter for everyone.
	Key []string `yaml:"key"`
	// Scope is route (default: each matched route has its own counters) or filter (counters shared by every route this filter serves).
	Scope string `yaml:"scope"`
	// IPv6Prefix is how many leading bits of an IPv6 client address form the key (default 64, one customer's network).
	IPv6Prefix int `yaml:"ipv6_prefix"`
	// MaxKeys caps the keys tracked, rounded up to a power of two (default 65536; 8 bytes each, allocated up front).
	MaxKeys int `yaml:"max_keys"`
	// Store is local (default: this instance counts alone) or redis (the filter's redis store counts for every instance).
	Store string `yaml:"store"`
	// Mode is exact (default: one Redis round trip per request) or lease (each instance takes small batches of the budget and spends them locally); store: redis only.
	Mode string `yaml:"mode"`
	// Lease is how many requests one lease takes from the shared budget (default burst/20, at least 1); mode: lease only.
	Lease int64 `yaml:"lease"`
	// LeaseTTL is how long leased requests may be spent before they are dropped (default 1s); mode: lease only.
	LeaseTTL filters.Duration `yaml:"lease_ttl"`
	// OnStoreError is what a request gets while the store cannot be reached: allow, deny (503) or local (this instance's own limiter); required with store: redis.
	OnStoreError string `yaml:"on_store_error"`
}

const (
	// MaxPolicies bounds the policies of one filter, so Handle keeps its
	// per-policy state on the stack.
	MaxPolicies = 8
	// DefaultMaxKeys is the key cap of a policy that sets none.
	DefaultMaxKeys = 1 << 16
	maxNameLen     = 64
)

// New builds the filter from its config entry. A decode error does not
// stop the checks: they run on what decoded (a setting that failed keeps
// its zero value), so one run reports every problem; nothing is opened or
// started unless there are none.
func New(spec filters.Spec) (filters.Filter, error) {
	cfg := Config{Headers: true}
	decodeErr := spec.Decode(&cfg)
	f, err := build(spec, cfg, monotonicClock(), decodeErr)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// monotonicClock returns microseconds since the call, on the monotonic
// clock.
func monotonicClock() func() int64 {
	base := time.Now()
	return func() int64 { return int64(time.Since(base) / time.Microsecond) }
}

func build(spec filters.Spec, cfg Config, clock func() int64, decodeErr ...error) (*Filter, error) {
	errs := append([]error(nil), decodeErr...)
	if len(cfg.Policies) == 0 {
		errs = append(errs, spec.ErrorAt("policies", "set at least one policy"))
	}
	if len(cfg.Policies) > MaxPolicies {
		errs = append(errs, spec.ErrorAt("policies", "at most %d policies per filter, got %d", MaxPolicies, len(cfg.Policies)))
	}
	f := &Filter{headers: cfg.Headers, clock: clock, route: spec.Route}
	seen := map[string]bool{}
	var policyHeader []byte
	for i, pc := range cfg.Policies {
		p, err := buildPolicy(spec, i, pc)
		if err != nil {
			errs = append(errs, err)
		}
		if err := sharedPolicy(spec, i, pc, cfg.Redis, &p); err != nil {
			errs = append(errs, err)
		}
		if seen[pc.Name] && pc.Name != "" {
			errs = append(errs, spec.ErrorAt("policies["+strconv.Itoa(i)+"].name", "duplicate name %q", pc.Name))
		}
		seen[pc.Name] = true
		if i > 0 {
			policyHeader = append(policyHeader, ", "...)
		}
		policyHeader = append(policyHeader, p.policyItem...)
		f.policies = append(f.policies, p)
	}
	if cfg.Redis != nil {
		if !anyRedis(cfg.Policies) {
			errs = append(errs, spec.ErrorAt("redis", "no policy sets store: redis"))
		}
		errs = append(errs, checkRedis(spec, cfg.Redis)...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	f.policyHeader = policyHeader
	f.metrics = newMetrics(spec.Route, f)
	if f.anyShared() {
		f.exact = !f.allLease()
		if err := f.openStore(spec, cfg.Redis); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// anyRedis reports whether a policy sets store: redis.
func anyRedis(pcs []PolicyConfig) bool {
	for _, pc := range pcs {
		if pc.Store == "redis" {
			return true
		}
	}
	return false
}

// buildPolicy checks policy i, reporting every problem at its setting, and
// builds its limiter when there are none.
func buildPolicy(spec filters.Spec, i int, pc PolicyConfig) (policy, error) {
	at := "policies[" + strconv.Itoa(i) + "]"
	var errs []error
	bad := func(rel, format string, args ...any) { errs = append(errs, spec.ErrorAt(at+rel, format, args...)) }
	if !validName(pc.Name) {
		bad(".name", "want 1 to %d letters, digits, '.', '_' or '-', got %q", maxNameLen, pc.Name)
	} else {
		at += " (" + pc.Name + ")"
	}
	if pc.Rate <= 0 {
		bad(".rate", "want a positive number of requests, got %d", pc.Rate)
	}
	per := pc.Per.D()
	if per == 0 {
		per = time.Second
	}
	if per%time.Second != 0 {
		bad(".per", "want a whole number of seconds (the RateLimit-Policy window is in seconds), got %s", per)
	}
	burst := pc.Burst
	if burst == 0 {
		burst = pc.Rate
	}
	if burst < 0 {
		bad(".burst", "want a positive number of requests, got %d", burst)
	}
	maxKeys := pc.MaxKeys
	if maxKeys == 0 {
		maxKeys = DefaultMaxKeys
	}
	if maxKeys < 0 || maxKeys > MaxKeys {
		bad(".max_keys", "want 1 to %d, got %d", MaxKeys, maxKeys)
	}
	var p policy
	switch pc.Scope {
	case "", "route":
		p.perRoute = true
	case "filter":
	default:
		bad(".scope", "want route or filter, got %q", pc.Scope)
	}
	v6 := pc.IPv6Prefix
	if v6 == 0 {
		v6 = 64
	}
	if v6 < 1 || v6 > 128 {
		bad(".ipv6_prefix", "want 1 to 128, got %d", v6)
	}
	seen := map[string]bool{}
	for j, k := range pc.Key {
		c, err := parseComponent(k)
		if err != nil {
			bad(".key["+strconv.Itoa(j)+"]", "%v", err)
			continue
		}
		id := string(rune(c.kind)) + c.arg
		if seen[id] {
			bad(".key["+strconv.Itoa(j)+"]", "%q is listed twice", k)
		}
		seen[id] = true
		p.key = append(p.key, c)
	}
	if err := errors.Join(errs...); err != nil {
		return policy{}, err
	}
	lim, err := NewLimiter(LimiterConfig{Rate: pc.Rate, Per: per, Burst: burst, MaxKeys: maxKeys})
	if err != nil {
		return policy{}, spec.ErrorAt(at, "%v", err)
	}
	p.name, p.lim, p.hashInit = pc.Name, lim, maphash.String(lim.seed, "tollgate ratelimit key")
	p.v6mask = prefixMask(v6)

	// RateLimit-Policy item (draft-ietf-httpapi-ratelimit-headers-11 §3.1):
	// "name";q=<burst>;w=<seconds>. The quota is the bucket's capacity,
	// the unit RateLimit's r (tokens left) counts in, so r ≤ q always; the
	// window is the time an exhausted bucket takes to fill, τ = burst × T,
	// rounded up to whole seconds (§3.1.3 has no fractions), so q/w is the
	// sustained rate, never more, and RateLimit's t never exceeds w.
	q, w := policyQuota(lim)
	item := strconv.AppendQuote(nil, pc.Name) // validName keeps it a plain sf-string
	item = append(item, ";q="...)
	item = strconv.AppendInt(item, q, 10)
	item = append(item, ";w="...)
	item = strconv.AppendInt(item, w, 10)
	p.policyItem = item
	// RateLimit item prefix (§4.1): "name";r=
	p.limitPrefix = append(strconv.AppendQuote(nil, pc.Name), ";r="...)
	p.detail = "rate limit policy \"" + pc.Name + "\" (" + strconv.FormatInt(pc.Rate, 10) + " per " + per.String() + ", burst " + strconv.FormatInt(burst, 10) + ") exceeded"
	return p, nil
}

// policyQuota returns the RateLimit-Policy quota and window of a limiter:
// q = burst requests over w = ⌈burst × per / rate⌉ seconds (at least 1).
func policyQuota(l *Limiter) (q, w int64) {
	return l.Burst(), ceilSeconds(l.Tolerance())
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func parseComponent(s string) (component, error) {
	switch s {
	case "principal":
		return component{kind: keyPrincipal}, nil
	case "tenant":
		return component{kind: keyTenant}, nil
	case "credential":
		return component{kind: keyCredential}, nil
	case "client_ip":
		return component{kind: keyClientIP}, nil
	case "method":
		return component{kind: keyMethod}, nil
	}
	if name, ok := strings.CutPrefix(s, "header:"); ok {
		if !filters.IsToken(name) {
			return component{}, fmt.Errorf("header name %q is not an HTTP token", name)
		}
		return component{kind: keyHeader, arg: textproto.CanonicalMIMEHeaderKey(name)}, nil
	}
	if name, ok := strings.CutPrefix(s, "param:"); ok {
		if name == "" {
			return component{}, fmt.Errorf("param: needs a route parameter name")
		}
		return component{kind: keyParam, arg: name}, nil
	}
	return component{}, fmt.Errorf("unknown key %q: want principal, tenant, credential, client_ip, method, header:<Name> or param:<name>", s)
}

func prefixMask(bits int) [16]byte {
	var m [16]byte
	for i := range m {
		switch {
		case bits >= 8:
			m[i] = 0xff
			bits -= 8
		case bits > 0:
			m[i] = ^byte(0xff >> bits)
			bits = 0
		}
	}
	return m
}
