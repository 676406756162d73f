package introspect

import (
	"errors"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/tokencache"
)

// Config is the filter's config block.
type Config struct {
	// Endpoint is the authorization server's introspection URL (https, or http to a loopback address).
	Endpoint string `yaml:"endpoint"`
	// ClientID is the proxy's client id at the authorization server, sent with HTTP Basic authentication.
	ClientID string `yaml:"client_id"`
	// ClientSecret is the proxy's client secret, usually "${ENV}".
	ClientSecret string `yaml:"client_secret"`
	// CAFile is a PEM bundle of CAs trusted for the endpoint instead of the system roots.
	CAFile string `yaml:"ca_file"`
	// Timeout bounds one introspection call, connection included (default 2s).
	Timeout filters.Duration `yaml:"timeout"`
	// MaxConcurrent bounds the introspection calls in flight; beyond it a request gets 503 at once (default 64).
	MaxConcurrent int `yaml:"max_concurrent"`
	// Issuer, when set, is the iss value an active token's response must carry.
	Issuer string `yaml:"issuer"`
	// Audiences, when set, lists the aud values accepted; an active token's response must name at least one.
	Audiences []string `yaml:"audiences"`
	// RolesClaim is the dotted path of the response member holding role names (default scope), e.g. roles or realm_access.roles.
	RolesClaim string `yaml:"roles_claim"`
	// TenantClaim is the dotted path of the response member holding the tenant, if any.
	TenantClaim string `yaml:"tenant_claim"`
	// RequireClaims lists members an active token's response must carry, by dotted path: "present" asks for any non-null value; a string, boolean or number asks for that exact value; a list accepts any one of its values. A member holding an array passes when one of its elements matches. A response that fails is refused with 401 authn.claim_required naming the claim.
	RequireClaims map[string]any `yaml:"require_claims"`
	// Leeway is the clock skew allowed when checking exp and nbf (default 30s).
	Leeway filters.Duration `yaml:"leeway"`
	// Optional lets requests without a token through as anonymous; a token that is present must still be active.
	Optional bool `yaml:"optional"`
	// Header is the request header carrying the token (default Authorization, where the Bearer scheme is required).
	Header string `yaml:"header"`
	// Forward names the headers that carry the identity upstream; client-sent copies are always removed.
	Forward ForwardConfig `yaml:"forward"`
	// Cache sizes the introspection result cache.
	Cache CacheConfig `yaml:"cache"`
}

// ForwardConfig names the identity headers sent upstream; an empty name
// disables that header.
type ForwardConfig struct {
	// SubjectHeader carries the token's sub, or its client_id when it has no sub (default X-Auth-Subject).
	SubjectHeader string `yaml:"subject_header"`
	// RolesHeader carries the recognised role names, comma-separated (default X-Auth-Roles).
	RolesHeader string `yaml:"roles_header"`
	// TenantHeader carries the tenant (default X-Auth-Tenant).
	TenantHeader string `yaml:"tenant_header"`
	// Credential passes the token on to the upstream. By default the header
	// that carried it is removed once the token is found active: a backend
	// behind the proxy does not need the client's credential.
	Credential bool `yaml:"credential"`
}

// CacheConfig sizes the result cache.
type CacheConfig struct {
	// MaxEntries bounds the number of cached tokens (default 10000; 0 disables the cache).
	MaxEntries *int `yaml:"max_entries"`
	// MaxTTL bounds how long an active token is trusted without asking again, whatever its exp (default 5m).
	MaxTTL filters.Duration `yaml:"max_ttl"`
	// NegativeTTL is how long a refused token (inactive, expired, wrong audience) is remembered (default 10s; 0 disables).
	NegativeTTL *filters.Duration `yaml:"negative_ttl"`
}

// Defaults and bounds.
const (
	defaultTimeout       = 2 * time.Second
	maxTimeout           = 30 * time.Second
	defaultMaxConcurrent = 64
	maxMaxConcurrent     = 4096
	defaultLeeway        = 30 * time.Second
	defaultMaxEntries    = 10000
	maxCacheEntries      = 1 << 24
	defaultMaxTTL        = 5 * time.Minute
	maxMaxTTL            = 24 * time.Hour
	defaultNegativeTTL   = 10 * time.Second
)

// options are internal knobs tests turn.
type options struct {
	now func() time.Time
}

// New builds the filter from its config entry. It does not contact the
// authorization server: the first request carrying a token does.
func New(spec filters.Spec) (filters.Filter, error) {
	return newFilter(spec, options{})
}

func newFilter(spec filters.Spec, o options) (*Filter, error) {
	cfg := Config{
		Timeout: filters.Duration(defaultTimeout),
		Leeway:  filters.Duration(defaultLeeway),
		Header:  "Authorization",
		Forward: ForwardConfig{
			SubjectHeader: "X-Auth-Subject",
			RolesHeader:   "X-Auth-Roles",
			TenantHeader:  "X-Auth-Tenant",
		},
		Cache: CacheConfig{MaxTTL: filters.Duration(defaultMaxTTL)},
	}
	// A decode error does not stop the checks: they run on what decoded
	// (a setting that failed keeps its default), so one run reports every
	// problem; no client is kept unless there are none.
	var errs []error
	if spec.Decode != nil {
		if err := spec.Decode(&cfg); err != nil {
			errs = append(errs, err)
		}
	}
	if o.now == nil {
		o.now = time.Now
	}
	f := &Filter{
		optional: cfg.Optional,
		leeway:   int64(cfg.Leeway.D() / time.Second),
		roles:    spec.Roles,
		scopes:   spec.Scopes,
		now:      o.now,
		issuer:   cfg.Issuer,
	}
	// bad takes "setting: message", positioned at the setting.
	bad := func(msg string) { errs = append(errs, spec.Problem(msg)) }

	if err := checkEndpoint(cfg.Endpoint); err != nil {
		bad("endpoint: " + err.Error())
	}
	f.endpoint = cfg.Endpoint
	f.defaultIss = []byte(cfg.Endpoint)
	if cfg.Issuer != "" {
		f.defaultIss = []byte(cfg.Issuer)
	}
	if cfg.ClientID == "" {
		bad("client_id: set the proxy's client id at the authorization server")
	}
	if cfg.ClientSecret == "" {
		bad("client_secret: set the proxy's client secret (is its environment variable set?)")
	}
	f.basicAuth = basicAuth(cfg.ClientID, cfg.ClientSecret)

	f.timeout = cfg.Timeout.D()
	if f.timeout <= 0 || f.timeout > maxTimeout {
		bad("timeout: want more than 0 and at most " + maxTimeout.String())
	}
	conc := defaultMaxConcurrent
	if cfg.MaxConcurrent != 0 {
		conc = cfg.MaxConcurrent
	}
	if conc < 1 || conc > maxMaxConcurrent {
		bad("max_concurrent: want 1 to " + strconv.Itoa(maxMaxConcurrent))
		conc = 1
	}
	f.sem = make(chan struct{}, conc)
	for j, a := range cfg.Audiences {
		if a == "" {
			bad("audiences[" + strconv.Itoa(j) + "]: an audience cannot be empty")
		}
	}
	f.audiences = cfg.Audiences

	rc := cfg.RolesClaim
	if rc == "" {
		rc = "scope"
	}
	var ok bool
	if f.rolesPath, ok = claimPath(rc); !ok {
		bad("roles_claim: " + strconv.Quote(rc) + " is not a dotted claim path")
	}
	if cfg.TenantClaim != "" {
		if f.tenantPath, ok = claimPath(cfg.TenantClaim); !ok {
			bad("tenant_claim: " + strconv.Quote(cfg.TenantClaim) + " is not a dotted claim path")
		}
	}
	var reqMsgs []string
	f.require, reqMsgs = compileClaims(cfg.RequireClaims)
	for _, m := range reqMsgs {
		bad(m)
	}

	if !filters.IsPlainHeaderName(cfg.Header) {
		bad("header: " + strconv.Quote(cfg.Header) + " is not a valid header name")
	}
	f.header = textproto.CanonicalMIMEHeaderKey(cfg.Header)
	f.bearer = f.header == "Authorization"
	fw := []*string{&cfg.Forward.SubjectHeader, &cfg.Forward.RolesHeader, &cfg.Forward.TenantHeader}
	fwKeys := []string{"forward.subject_header", "forward.roles_header", "forward.tenant_header"}
	for i, p := range fw {
		if *p == "" {
			continue
		}
		if !filters.IsPlainHeaderName(*p) {
			bad(fwKeys[i] + ": " + strconv.Quote(*p) + " is not a valid header name")
			continue
		}
		*p = textproto.CanonicalMIMEHeaderKey(*p)
		if *p == f.header {
			bad(fwKeys[i] + ": " + strconv.Quote(*p) + " is the token header")
		}
		for _, q := range fw[:i] {
			if *q == *p {
				bad(fwKeys[i] + ": " + strconv.Quote(*p) + " is used twice")
			}
		}
		f.forwarded = append(f.forwarded, *p)
	}
	f.fwdSubject, f.fwdRoles, f.fwdTenant = cfg.Forward.SubjectHeader, cfg.Forward.RolesHeader, cfg.Forward.TenantHeader
	f.fwdCredential = cfg.Forward.Credential

	entries := defaultMaxEntries
	if cfg.Cache.MaxEntries != nil {
		entries = *cfg.Cache.MaxEntries
	}
	if entries < 0 || entries > maxCacheEntries {
		bad("cache.max_entries: want 0 to " + strconv.Itoa(maxCacheEntries))
	} else {
		f.cache = tokencache.New[entry](entries)
	}
	if d := cfg.Cache.MaxTTL.D(); d < time.Second || d > maxMaxTTL {
		bad("cache.max_ttl: want 1s to " + maxMaxTTL.String())
	}
	f.maxTTL = int64(cfg.Cache.MaxTTL.D())
	f.negativeTTL = int64(defaultNegativeTTL)
	if cfg.Cache.NegativeTTL != nil {
		f.negativeTTL = int64(cfg.Cache.NegativeTTL.D())
		if cfg.Cache.NegativeTTL.D() > cfg.Cache.MaxTTL.D() {
			bad("cache.negative_ttl: want at most cache.max_ttl")
		}
	}

	if cfg.CAFile != "" || len(errs) == 0 {
		c, err := newClient(cfg.CAFile, conc)
		if err != nil {
			bad("ca_file: " + err.Error())
		}
		f.client = c
	}
	if len(errs) > 0 {
		if f.client != nil {
			f.client.CloseIdleConnections()
		}
		return nil, errors.Join(errs...)
	}
	f.m = newFilterMetrics(spec.Route)
	return f, nil
}

// claimPath splits a dotted claim path such as realm_access.roles.
func claimPath(s string) ([]string, bool) {
	out := strings.Split(s, ".")
	for _, seg := range out {
		if seg == "" {
			return nil, false
		}
	}
	return out, true
}
