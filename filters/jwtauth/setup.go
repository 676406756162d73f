package jwtauth

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/tokencache"
)

// Config is the filter's config block.
type Config struct {
	// Issuers lists the trusted token issuers; a token is matched to one by its iss claim.
	Issuers []IssuerConfig `yaml:"issuers"`
	// Leeway is the clock skew allowed when checking exp, nbf and iat (default 30s).
	Leeway filters.Duration `yaml:"leeway"`
	// IatLeeway is how far in the future a token's iat may be (default 5s). It is kept apart from leeway: exp and nbf tolerate this proxy's clock drift, while a token issued in the future points at a skewed or forged issuer.
	IatLeeway filters.Duration `yaml:"iat_leeway"`
	// Optional lets requests without a token through as anonymous; a token that is present must still be valid.
	Optional bool `yaml:"optional"`
	// AllowNoSubject accepts tokens without a sub claim. By default such a token is refused (401 authn.token_malformed): a request the audit log could attribute to no principal should not be granted roles.
	AllowNoSubject bool `yaml:"allow_no_subject"`
	// RequireClaims lists claims every token must carry, by dotted claim path: "present" asks for any non-null value; a string, boolean or number asks for that exact value; a list accepts any one of its values. A claim holding an array passes when one of its elements matches. A token that fails is refused with 401 authn.claim_required naming the claim.
	RequireClaims map[string]any `yaml:"require_claims"`
	// Header is the request header carrying the token (default Authorization, where the Bearer scheme is required).
	Header string `yaml:"header"`
	// Forward names the headers that carry the verified identity upstream; client-sent copies are always removed.
	Forward ForwardConfig `yaml:"forward"`
	// Cache sizes the verified-token cache.
	Cache CacheConfig `yaml:"cache"`
}

// IssuerConfig is one trusted issuer.
type IssuerConfig struct {
	// Issuer is the exact iss value of the issuer's tokens.
	Issuer string `yaml:"issuer"`
	// Audiences lists the aud values accepted; a token must name at least one.
	Audiences []string `yaml:"audiences"`
	// JWKSFile is a local JWK Set file with the issuer's public keys.
	JWKSFile string `yaml:"jwks_file"`
	// JWKSURL is the https URL of the issuer's JWK Set.
	JWKSURL string `yaml:"jwks_url"`
	// Discovery finds the JWK Set through {issuer}/.well-known/openid-configuration.
	Discovery bool `yaml:"discovery"`
	// CAFile is a PEM bundle of CAs trusted for jwks_url and discovery instead of the system roots.
	CAFile string `yaml:"ca_file"`
	// Algorithms lists the accepted JWS algorithms (default: every asymmetric one, plus HS256/384/512 when hs_secret is set).
	Algorithms []string `yaml:"algorithms"`
	// HSSecret is the shared secret for HS256/384/512 tokens, usually "${ENV}"; at least as long as the hash output.
	HSSecret string `yaml:"hs_secret"`
	// RolesClaim is the dotted path of the claim holding role names (default roles), e.g. realm_access.roles, scope or groups.
	RolesClaim string `yaml:"roles_claim"`
	// TenantClaim is the dotted path of the claim holding the tenant, if any.
	TenantClaim string `yaml:"tenant_claim"`
	// RefreshInterval is how often remote or file keys are fetched again (default 5m).
	RefreshInterval filters.Duration `yaml:"refresh_interval"`
	// MinRefetchInterval is the least time between two fetches triggered by unknown kids (default 10s).
	MinRefetchInterval filters.Duration `yaml:"min_refetch_interval"`
}

// ForwardConfig names the identity headers sent upstream; an empty name
// disables that header.
type ForwardConfig struct {
	// SubjectHeader carries the token's sub (default X-Auth-Subject).
	SubjectHeader string `yaml:"subject_header"`
	// RolesHeader carries the recognised role names, comma-separated (default X-Auth-Roles).
	RolesHeader string `yaml:"roles_header"`
	// TenantHeader carries the tenant claim (default X-Auth-Tenant).
	TenantHeader string `yaml:"tenant_header"`
	// Credential passes the verified token on to the upstream. By default
	// the header that carried it is removed once the token is verified:
	// a backend behind the proxy does not need the client's credential,
	// and one that logs or forwards it would leak it.
	Credential bool `yaml:"credential"`
}

// CacheConfig sizes the verified-token cache.
type CacheConfig struct {
	// MaxEntries bounds the number of cached tokens (default 10000; 0 disables the cache).
	MaxEntries *int `yaml:"max_entries"`
}

// Defaults.
const (
	defaultLeeway      = 30 * time.Second
	defaultIatLeeway   = 5 * time.Second
	defaultRefresh     = 5 * time.Minute
	defaultMinRefetch  = 10 * time.Second
	defaultMaxEntries  = 10000
	maxCacheEntries    = 1 << 24
	defaultFetchTimout = 5 * time.Second
	minRefreshInterval = time.Second
)

// options are internal knobs tests turn.
type options struct {
	now          func() time.Time
	fetchTimeout time.Duration
	retryMin     time.Duration
	client       *http.Client // overrides the per-issuer client
}

// New builds the filter from its config entry. Local key files must load;
// remote keys are fetched once here (bounded by a timeout) and, if that
// fails, retried in the background while requests get 503
// authn.keys_unavailable.
func New(spec filters.Spec) (filters.Filter, error) {
	return newFilter(spec, options{})
}

func newFilter(spec filters.Spec, o options) (*Filter, error) {
	cfg := Config{
		Leeway:    filters.Duration(defaultLeeway),
		IatLeeway: filters.Duration(defaultIatLeeway),
		Header:    "Authorization",
		Forward: ForwardConfig{
			SubjectHeader: "X-Auth-Subject",
			RolesHeader:   "X-Auth-Roles",
			TenantHeader:  "X-Auth-Tenant",
		},
	}
	// A decode error does not stop the checks: they run on what decoded
	// (a setting that failed keeps its default), so one run reports every
	// problem; nothing is loaded or started unless there are none.
	var errs []error
	if spec.Decode != nil {
		if err := spec.Decode(&cfg); err != nil {
			errs = append(errs, err)
		}
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.fetchTimeout == 0 {
		o.fetchTimeout = defaultFetchTimout
	}
	if o.retryMin == 0 {
		o.retryMin = time.Second
	}
	f := &Filter{
		optional: cfg.Optional,
		noSub:    cfg.AllowNoSubject,
		leeway:   int64(cfg.Leeway.D() / time.Second),
		iatSkew:  int64(cfg.IatLeeway.D() / time.Second),
		roles:    spec.Roles,
		scopes:   spec.Scopes,
		now:      o.now,
	}
	f.tokens.New = func() any { return new(token) }
	bad := func(rel, msg string) { errs = append(errs, spec.ErrorAt(rel, "%s", msg)) }

	if !filters.IsPlainHeaderName(cfg.Header) {
		bad("header", quote(cfg.Header)+" is not a valid header name")
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
			bad(fwKeys[i], quote(*p)+" is not a valid header name")
			continue
		}
		*p = textproto.CanonicalMIMEHeaderKey(*p)
		if *p == f.header {
			bad(fwKeys[i], quote(*p)+" is the token header")
		}
		for _, q := range fw[:i] {
			if *q == *p {
				bad(fwKeys[i], quote(*p)+" is used twice")
			}
		}
		f.forwarded = append(f.forwarded, *p)
	}
	f.fwdSubject, f.fwdRoles, f.fwdTenant = cfg.Forward.SubjectHeader, cfg.Forward.RolesHeader, cfg.Forward.TenantHeader
	f.fwdCredential = cfg.Forward.Credential

	var reqMsgs []string
	f.require, reqMsgs = compileClaims(cfg.RequireClaims)
	for _, m := range reqMsgs {
		errs = append(errs, spec.Problem(m))
	}

	entries := defaultMaxEntries
	if cfg.Cache.MaxEntries != nil {
		entries = *cfg.Cache.MaxEntries
	}
	if entries < 0 || entries > maxCacheEntries {
		bad("cache.max_entries", "want 0 to "+itoa(maxCacheEntries))
	} else {
		f.cache = tokencache.New[cacheEntry](entries)
	}

	if len(cfg.Issuers) == 0 {
		bad("issuers", "list at least one issuer")
	}
	seen := map[string]bool{}
	for i := range cfg.Issuers {
		ic := &cfg.Issuers[i]
		at := "issuers[" + itoa(i) + "]"
		if seen[ic.Issuer] {
			bad(at+".issuer", quote(ic.Issuer)+" is listed twice")
		}
		seen[ic.Issuer] = true
		is, probs := buildIssuer(i, ic, o)
		for _, p := range probs {
			bad(strings.TrimSuffix(at+"."+p.at, "."), p.msg)
		}
		if is != nil {
			f.issuers = append(f.issuers, is)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	f.m = newFilterMetrics(spec.Route, f.issuers)
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel

	// Initial load: files must load; remote sources get one bounded try,
	// all issuers in parallel.
	loadErrs := make([]error, len(f.issuers))
	var wg sync.WaitGroup
	for i, is := range f.issuers {
		i, is := i, is
		is.onResult = func(ok bool) {
			if ok {
				f.m.refreshOK[i].Inc()
			} else {
				f.m.refreshErr[i].Inc()
			}
		}
		if is.src == sourceNone {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			loadErrs[i] = is.refresh(ctx)
		}()
	}
	wg.Wait()
	for i, is := range f.issuers {
		if is.src == sourceFile && loadErrs[i] != nil {
			cancel()
			for _, is := range f.issuers {
				if is.client != nil {
					is.client.CloseIdleConnections()
				}
			}
			return nil, spec.ErrorAt("issuers["+itoa(i)+"].jwks_file", "%v", loadErrs[i])
		}
	}
	for i, is := range f.issuers {
		if is.src == sourceNone {
			continue
		}
		f.wg.Add(1)
		failing := loadErrs[i] != nil
		go func() {
			defer f.wg.Done()
			is.run(ctx, failing)
		}()
	}
	return f, nil
}

// buildIssuer validates one issuer entry; problems are relative to it.
func buildIssuer(idx int, ic *IssuerConfig, o options) (*issuer, []problem) {
	var msgs []problem
	bad := func(at, m string) { msgs = append(msgs, problem{at, m}) }
	is := &issuer{
		idx:        idx,
		name:       ic.Issuer,
		nameB:      []byte(ic.Issuer),
		interval:   defaultRefresh,
		minRefetch: defaultMinRefetch,
		timeout:    o.fetchTimeout,
		retryMin:   o.retryMin,
	}
	if ic.Issuer == "" {
		bad("issuer", "set the issuer's iss value")
	}
	if len(ic.Audiences) == 0 {
		bad("audiences", "list at least one audience")
	}
	for j, a := range ic.Audiences {
		if a == "" {
			bad("audiences["+itoa(j)+"]", "an audience cannot be empty")
		}
		is.audiences = append(is.audiences, []byte(a))
	}
	sources := 0
	if ic.JWKSFile != "" {
		sources++
		is.src, is.location = sourceFile, ic.JWKSFile
	}
	if ic.JWKSURL != "" {
		sources++
		is.src, is.location = sourceURL, ic.JWKSURL
		if err := checkHTTPS(ic.JWKSURL); err != nil {
			bad("jwks_url", err.Error())
		}
	}
	if ic.Discovery {
		sources++
		is.src = sourceDiscovery
		if err := checkHTTPS(ic.Issuer); err != nil {
			bad("discovery", "the issuer must be an https URL: "+err.Error())
		}
	}
	if sources > 1 {
		bad("", "set only one of jwks_file, jwks_url and discovery")
	}
	if sources == 0 && ic.HSSecret == "" {
		bad("", "set one of jwks_file, jwks_url, discovery or hs_secret")
	}
	if ic.CAFile != "" && is.src != sourceURL && is.src != sourceDiscovery {
		bad("ca_file", "only used with jwks_url or discovery")
	}
	if is.src == sourceURL || is.src == sourceDiscovery {
		if o.client != nil {
			is.client = o.client
		} else {
			c, err := httpClient(ic.CAFile)
			if err != nil {
				bad("ca_file", err.Error())
			}
			is.client = c
		}
	}
	if ic.RefreshInterval != 0 {
		if ic.RefreshInterval.D() < minRefreshInterval {
			bad("refresh_interval", "want at least 1s")
		}
		is.interval = ic.RefreshInterval.D()
	}
	if ic.MinRefetchInterval != 0 {
		is.minRefetch = ic.MinRefetchInterval.D()
	}
	if is.src != sourceNone {
		is.kick = make(chan struct{}, 1)
	}

	// Algorithms: the key decides, never the token (RFC 8725 §3.1). HMAC
	// needs a configured secret of at least the hash's size (RFC 7518
	// §3.2), so a public key can never be used as an HMAC secret.
	if ic.HSSecret != "" {
		is.hmac = newHMACKey([]byte(ic.HSSecret))
	}
	if len(ic.Algorithms) == 0 {
		for a := algRS256; a <= algEdDSA; a++ {
			if is.src != sourceNone {
				is.algs |= 1 << a
			}
		}
		for a := algHS256; a <= algHS512; a++ {
			if is.hmac != nil && len(ic.HSSecret) >= hmacMinLen(a) {
				is.algs |= 1 << a
			}
		}
		if is.hmac != nil && is.algs&(1<<algHS256) == 0 {
			bad("hs_secret", "want at least 32 bytes")
		}
	}
	for j, name := range ic.Algorithms {
		algAt := "algorithms[" + itoa(j) + "]"
		a := parseAlg([]byte(name))
		switch {
		case a == algUnknown || a == algNone:
			bad(algAt, quote(name)+" is not supported (want RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA, HS256, HS384 or HS512)")
		case a.isHMAC() && is.hmac == nil:
			bad(algAt, name+" needs hs_secret")
		case a.isHMAC() && len(ic.HSSecret) < hmacMinLen(a):
			bad("hs_secret", name+" wants a secret of at least "+itoa(hmacMinLen(a))+" bytes")
		case !a.isHMAC() && is.src == sourceNone:
			bad(algAt, name+" needs jwks_file, jwks_url or discovery")
		}
		if a != algUnknown && a != algNone {
			is.algs |= 1 << a
		}
	}

	rc := ic.RolesClaim
	if rc == "" {
		rc = "roles"
	}
	var ok bool
	if is.rolesPath, ok = claimPath(rc); !ok {
		bad("roles_claim", quote(rc)+" is not a dotted claim path")
	}
	if ic.TenantClaim != "" {
		if is.tenantPath, ok = claimPath(ic.TenantClaim); !ok {
			bad("tenant_claim", quote(ic.TenantClaim)+" is not a dotted claim path")
		}
	}
	return is, msgs
}

// problem is one mistake in a setting, at a path relative to the block
// being checked ("" for the block itself).
type problem struct{ at, msg string }

func hmacMinLen(a alg) int {
	switch a {
	case algHS384:
		return 48
	case algHS512:
		return 64
	}
	return 32
}

func claimPath(s string) ([][]byte, bool) {
	var out [][]byte
	for _, seg := range strings.Split(s, ".") {
		if seg == "" {
			return nil, false
		}
		out = append(out, []byte(seg))
	}
	return out, len(out) > 0
}

// httpClient returns a client for key fetches: TLS 1.2 or newer, the
// system roots or caFile, https-only redirects.
func httpClient(caFile string) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := filters.CertPool(caFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     tc,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     time.Minute,
	}
	return &http.Client{Transport: tr, CheckRedirect: checkRedirect}, nil
}
