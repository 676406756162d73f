package engine

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"net/textproto"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/engine/router"
	"github.com/tollgate-proxy/tollgate/engine/upstream"
	"github.com/tollgate-proxy/tollgate/filters"
)

// Route is one compiled route.
type Route struct {
	// Info is what filters see of the route.
	Info filters.Route
	// Chain is the route's compiled filter chain.
	Chain *filters.Chain
	// Upstream is the pool requests are forwarded to.
	Upstream *upstream.Pool
	// MaxBodyBytes caps the request body.
	MaxBodyBytes int64
	// RemoveHeaders and SetHeaders rewrite the request for the upstream
	// (the upstream's remove_headers and set_headers, sorted).
	RemoveHeaders []string
	SetHeaders    []HeaderValue
	// UpstreamRemove is every field removed from a request before it goes
	// upstream besides the hop-by-hop ones: Expect (answered by the proxy
	// or not at all), Forwarded (believed only from a trusted proxy) and
	// RemoveHeaders; UpstreamRemoveTrusted keeps Forwarded.
	UpstreamRemove, UpstreamRemoveTrusted []string
	// CredentialHeaders are the headers the route's filters read
	// credentials from (filters.CredentialReader); a request carrying one
	// of them twice is refused before the chain runs.
	CredentialHeaders []string
	// IdentityHeaders are the headers the route's filters forward a
	// verified identity in (filters.IdentityForwarder), once each: the
	// pipeline deletes client-sent copies before the chain runs, so only
	// the proxy sets them, whatever the filters' order.
	IdentityHeaders []string

	// routeSeries are the route's metrics (UpstreamErrors and
	// UpstreamTimeouts among them), kept across reloads (series.go).
	*routeSeries
}

// HeaderValue is a header set on upstream requests.
type HeaderValue struct {
	Name  string
	Key   []byte // Name in canonical form (textproto's, which fasthttp shares)
	Value []byte
}

// CountResponse records a finished request's status and duration.
func (r *Route) CountResponse(status int, d time.Duration) {
	r.requests[statusClass(status)].Inc()
	r.duration.Update(d.Seconds())
}

func statusClass(status int) int {
	if status >= 100 && status < 600 {
		return status/100 - 1
	}
	return 5
}

// Listener holds the per-listener settings that can change on reload.
type Listener struct {
	// Config is the listener's config entry.
	Config config.Listener
	// Trusted lists the proxies whose forwarding headers are believed.
	Trusted []netip.Prefix
}

// IsTrusted reports whether addr is a trusted proxy.
func (l *Listener) IsTrusted(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range l.Trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Runtime is an immutable, compiled configuration generation.
type Runtime struct {
	// Generation numbers configurations from 1, incremented per reload.
	Generation uint64
	// Config is the configuration the runtime was compiled from.
	Config *config.Config
	// Router matches requests to Routes by index.
	Router *router.Router
	// Routes are indexed by the route ids the router returns.
	Routes []*Route
	// Listeners are keyed by listener name.
	Listeners map[string]*Listener
	// Metrics holds the per-route metrics, shared by the generations of
	// one process (routeSeries).
	Metrics *metrics.Set
	// Roles is the role table shared by this generation's filters.
	Roles *filters.Roles
	// Scopes is the OAuth scope table shared by this generation's filters.
	Scopes *filters.Roles

	// Unmatched counts the answers given before a route was known
	// (404, 405, 400, shed), by status class.
	Unmatched *Route
	// NotFound is the chain requests no route matches run before their 404
	// or 405 (config not_found), or nil; NotFoundCredentials are the
	// headers its filters read credentials from, NotFoundIdentity those
	// they forward an identity in (deleted before it runs).
	NotFound            *filters.Chain
	NotFoundCredentials []string
	NotFoundIdentity    []string

	pools         []*upstream.Pool
	series        *seriesSet
	filterMetrics []*metrics.Set
	shared        *filters.Chain // shared filter instances, closed once with the runtime

	refs    atomic.Int64
	retired atomic.Bool
	next    atomic.Pointer[Runtime]
	closeMu sync.Once
	log     *slog.Logger
}

// Compile builds a Runtime from a validated config. Every error is
// collected, each with its file position. prev, when not nil, lends its
// upstream pools to upstreams whose settings did not change, so a reload
// keeps warm keep-alive connections.
func Compile(cfg *config.Config, reg filters.Registry, gen uint64, prev *Runtime, log *slog.Logger) (*Runtime, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rt := &Runtime{
		Generation: gen,
		Config:     cfg,
		Listeners:  make(map[string]*Listener, len(cfg.Listeners)),
		Roles:      filters.NewRoles(),
		Scopes:     filters.NewRoles(),
		log:        log,
	}
	var errs []error

	for _, lc := range cfg.Listeners {
		trusted, err := lc.TrustedPrefixes()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", cfg.Path, err))
		}
		rt.Listeners[lc.Name] = &Listener{Config: lc, Trusted: trusted}
	}

	pools := make(map[string]*upstream.Pool, len(cfg.Upstreams))
	ucfgs := make(map[string]config.Upstream, len(cfg.Upstreams))
	for _, uc := range cfg.Upstreams {
		ucfgs[uc.Name] = uc
		opts := upstreamOptions(uc, 0)
		p := prev.reusablePool(opts)
		if p == nil {
			var err error
			if p, err = upstream.New(opts); err != nil {
				errs = append(errs, fmt.Errorf("%s: upstream %q: %w", cfg.Path, uc.Name, err))
				continue
			}
		}
		pools[uc.Name] = p
		rt.pools = append(rt.pools, p)
	}

	shared, sharedErrs := compileShared(cfg, reg, names{rt.Roles, rt.Scopes})
	errs = append(errs, sharedErrs...)
	sharedList := make([]filters.Filter, 0, len(shared))
	for _, fc := range cfg.Filters {
		if f, ok := shared[fc.ID]; ok {
			sharedList = append(sharedList, f)
		}
	}
	rt.shared = filters.NewChain(sharedList...)

	rrs := make([]router.Route, 0, len(cfg.Routes))
	for i, rc := range cfg.Routes {
		r := &Route{
			Info: filters.Route{Name: rc.Name, Pattern: rc.Path, Index: i, Upstream: rc.Upstream},
		}
		r.Upstream = pools[rc.Upstream]
		if rc.Timeout > 0 && r.Upstream != nil {
			opts := upstreamOptions(ucfgs[rc.Upstream], rc.Timeout.D())
			p := prev.reusablePool(opts)
			if p == nil {
				p, _ = upstream.New(opts)
			}
			r.Upstream = p
			rt.pools = append(rt.pools, p)
		}
		r.MaxBodyBytes = int64(rc.MaxBodyBytes)
		uc := ucfgs[rc.Upstream]
		r.RemoveHeaders = uc.RemoveHeaders
		r.UpstreamRemoveTrusted = append([]string{"Expect"}, uc.RemoveHeaders...)
		r.UpstreamRemove = append([]string{"Expect", "Forwarded"}, uc.RemoveHeaders...)
		for _, name := range slices.Sorted(maps.Keys(uc.SetHeaders)) {
			key := []byte(textproto.CanonicalMIMEHeaderKey(name))
			r.SetHeaders = append(r.SetHeaders, HeaderValue{Name: name, Key: key, Value: []byte(uc.SetHeaders[name])})
		}
		chain, err := compileChain(rc, reg, names{rt.Roles, rt.Scopes}, shared)
		if err != nil {
			errs = append(errs, err)
		}
		r.Chain = chain
		r.CredentialHeaders = credentialHeaders(chain)
		if r.IdentityHeaders, err = identityHeaders(chain, r.CredentialHeaders, rc.Filters, "routes["+rc.Name+"]", rc.Pos); err != nil {
			errs = append(errs, err)
		}
		rt.Routes = append(rt.Routes, r)
		rrs = append(rrs, router.Route{Host: rc.Host, Methods: rc.Methods, Pattern: rc.Path, ID: i})
	}
	rt.Unmatched = &Route{Info: filters.Route{Name: "", Index: -1}}
	if nf := cfg.NotFound; nf != nil && len(nf.Filters) > 0 {
		chain, err := compileChain(config.Route{Name: "not_found", Filters: nf.Filters}, reg, names{rt.Roles, rt.Scopes}, shared)
		switch {
		case err != nil:
			errs = append(errs, err)
		case chain.MayBlock():
			errs = append(errs, fmt.Errorf("%s: not_found.filters: a filter that may wait (introspection, a concurrency queue) cannot run before a route is known", cfg.Path))
			_ = chain.Close()
		default:
			rt.NotFound = chain
			rt.NotFoundCredentials = credentialHeaders(chain)
			if rt.NotFoundIdentity, err = identityHeaders(chain, rt.NotFoundCredentials, nf.Filters, "not_found", cfg.Path); err != nil {
				errs = append(errs, err)
			}
		}
	}

	rtr, err := router.New(rrs)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", cfg.Path, err))
	}
	rt.Router = rtr

	if err := errors.Join(errs...); err != nil {
		rt.closeChains()
		return nil, err
	}
	// The per-route series outlive the generation: a reload keeps the
	// counts of every route that is still configured.
	rt.series = prev.seriesOrNew(cfg.Metrics.Histograms)
	rt.Metrics = rt.series.set
	rt.series.attach(append(slices.Clone(rt.Routes), rt.Unmatched))
	rt.collectFilterMetrics()
	return rt, nil
}

// credentialHeaders lists, once each, the headers c's filters read
// credentials from.
func credentialHeaders(c *filters.Chain) []string {
	if c == nil {
		return nil
	}
	var names []string
	for _, f := range c.Filters() {
		if cr, ok := f.(filters.CredentialReader); ok {
			for _, n := range cr.CredentialHeaders() {
				if !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
		}
	}
	return names
}

// identityHeaders lists, once each, the headers c's filters forward an
// identity in. A header one filter forwards and another reads a
// credential from is an error, positioned at the forwarding filter's
// entry of specs (the chain's config, named where; pos when the two do
// not line up): deleting the client's copy before the chain runs would
// delete the credential, and setting it would replace one.
func identityHeaders(c *filters.Chain, credentials []string, specs []config.FilterSpec, where, pos string) ([]string, error) {
	if c == nil {
		return nil, nil
	}
	var names []string
	var errs []error
	for i, f := range c.Filters() {
		fw, ok := f.(filters.IdentityForwarder)
		if !ok {
			continue
		}
		for _, n := range fw.ForwardedHeaders() {
			n = textproto.CanonicalMIMEHeaderKey(n)
			if slices.Contains(credentials, n) {
				at := pos
				if len(specs) == c.Len() && specs[i].Pos != "" {
					at = specs[i].Pos
				}
				errs = append(errs, fmt.Errorf("%s: %s.filters[%d] (%s): forwards the identity in %q, which a filter of the chain reads a credential from", at, where, i, f.Name(), n))
				continue
			}
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return names, errors.Join(errs...)
}

// MetricsProvider is implemented by filters that keep their own metrics.
type MetricsProvider interface {
	Metrics() *metrics.Set
}

func (rt *Runtime) collectFilterMetrics() {
	seen := map[filters.Filter]bool{}
	add := func(fs []filters.Filter) {
		for _, f := range fs {
			if mp, ok := f.(MetricsProvider); ok && !seen[f] {
				seen[f] = true
				rt.filterMetrics = append(rt.filterMetrics, mp.Metrics())
			}
		}
	}
	add(rt.shared.Filters())
	for _, r := range rt.Routes {
		add(r.Chain.Filters())
	}
}

// WritePrometheus writes the generation's metrics, its filters' and its
// upstream targets' included.
func (rt *Runtime) WritePrometheus(w io.Writer) {
	rt.Metrics.WritePrometheus(w)
	for _, s := range rt.filterMetrics {
		s.WritePrometheus(w)
	}
	for _, p := range rt.pools {
		p.WritePrometheus(w)
	}
}

// CheckFilters builds every filter a config names — shared instances and
// route entries — and closes them again, returning every construction
// error. `tollgate check` uses it to report filter settings even when the
// rest of the file has errors that stop a full Compile.
func CheckFilters(cfg *config.Config, reg filters.Registry) error {
	roles := names{filters.NewRoles(), filters.NewRoles()}
	var errs []error
	var built []filters.Filter
	try := func(fsc *config.FilterSpec, where, route string) {
		if fsc.Use != "" {
			return
		}
		f, err := newFilter(fsc, where, route, reg, roles)
		if err != nil {
			errs = append(errs, err)
			return
		}
		built = append(built, f)
	}
	for i := range cfg.Filters {
		try(&cfg.Filters[i], fmt.Sprintf("filters[%d]", i), "filters."+cfg.Filters[i].ID)
	}
	for _, rc := range cfg.Routes {
		for i := range rc.Filters {
			try(&rc.Filters[i], fmt.Sprintf("routes[%s].filters[%d]", rc.Name, i), rc.Name)
		}
	}
	_ = filters.NewChain(built...).Close()
	return errors.Join(errs...)
}

// compileShared builds the top-level named filter instances once; routes
// that use one share the same Filter value.
func compileShared(cfg *config.Config, reg filters.Registry, roles names) (map[string]filters.Filter, []error) {
	var errs []error
	shared := make(map[string]filters.Filter, len(cfg.Filters))
	for i := range cfg.Filters {
		fsc := &cfg.Filters[i]
		f, err := newFilter(fsc, fmt.Sprintf("filters[%d]", i), "filters."+fsc.ID, reg, roles)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		shared[fsc.ID] = f
	}
	return shared, errs
}

func compileChain(rc config.Route, reg filters.Registry, roles names, shared map[string]filters.Filter) (*filters.Chain, error) {
	var errs []error
	fs := make([]filters.Filter, 0, len(rc.Filters))
	var owned []filters.Filter
	for i := range rc.Filters {
		fsc := &rc.Filters[i]
		if fsc.Use != "" {
			if f, ok := shared[fsc.Use]; ok {
				fs = append(fs, f)
			}
			// An unknown or broken shared filter is already reported.
			continue
		}
		f, err := newFilter(fsc, fmt.Sprintf("routes[%s].filters[%d]", rc.Name, i), rc.Name, reg, roles)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fs = append(fs, f)
		owned = append(owned, f)
	}
	c := filters.NewChain(fs...)
	if err := errors.Join(errs...); err != nil {
		_ = filters.NewChain(owned...).Close()
		return nil, err
	}
	c.SetOwned(owned)
	return c, nil
}

// names are the name tables one configuration generation's filters share.
type names struct{ roles, scopes *filters.Roles }

func newFilter(fsc *config.FilterSpec, where, route string, reg filters.Registry, roles names) (filters.Filter, error) {
	regn, ok := reg.Lookup(fsc.Name)
	if !ok {
		return nil, fmt.Errorf("%s: %s: unknown filter %q (known: %s)", fsc.Pos, where, fsc.Name, strings.Join(reg.Names(), ", "))
	}
	var decodeErr error // what Decode reported, so checks repeating it are dropped
	decode := func(v any) error {
		decodeErr = fsc.Decode(v)
		return decodeErr
	}
	spec := filters.Spec{Name: fsc.Name, Route: route, Pos: fsc.Pos, Roles: roles.roles, Scopes: roles.scopes, Decode: decode, At: fsc.PosOf}
	f, err := regn.New(spec)
	return f, config.WithoutRepeats(err, decodeErr)
}

func upstreamOptions(uc config.Upstream, timeout time.Duration) upstream.Options {
	if timeout <= 0 {
		timeout = uc.Timeout.D()
	}
	return upstream.Options{
		Name:           uc.Name,
		Targets:        uc.Targets,
		TLS:            uc.TLS,
		ConnectTimeout: uc.ConnectTimeout.D(),
		Timeout:        timeout,
		WriteTimeout:   timeout,
		IdleTimeout:    uc.IdleTimeout.D(),
		MaxConnections: uc.MaxConnections,
		FailTimeout:    uc.FailTimeout.D(),
	}
}

// reusablePool returns prev's pool with identical options, if any.
func (rt *Runtime) reusablePool(opts upstream.Options) *upstream.Pool {
	if rt == nil {
		return nil
	}
	for _, p := range rt.pools {
		if sameOptions(p.Options(), opts) {
			return p
		}
	}
	return nil
}

func sameOptions(a, b upstream.Options) bool { return reflect.DeepEqual(a, b) }

// acquire takes a reference for one request.
func (rt *Runtime) acquire() { rt.refs.Add(1) }

// Release drops a request's reference; the last one out of a retired
// runtime closes it.
func (rt *Runtime) Release() {
	if rt.refs.Add(-1) == 0 && rt.retired.Load() {
		rt.close()
	}
}

// retire marks rt replaced by next and closes it once idle.
func (rt *Runtime) retire(next *Runtime) {
	rt.next.Store(next)
	rt.retired.Store(true)
	rt.acquire()
	// The extra reference taken above makes sure close runs exactly once,
	// here or in the last request's Release.
	if rt.refs.Add(-1) == 0 {
		rt.close()
	}
}

func (rt *Runtime) close() {
	rt.closeMu.Do(func() {
		next := rt.next.Load()
		rt.closeChains()
		for _, p := range rt.pools {
			if next != nil && next.ownsPool(p) {
				continue
			}
			p.Close()
		}
	})
}

func (rt *Runtime) ownsPool(p *upstream.Pool) bool {
	for _, q := range rt.pools {
		if q == p {
			return true
		}
	}
	return false
}

func (rt *Runtime) closeChains() {
	if rt.shared != nil {
		if err := rt.shared.Close(); err != nil {
			rt.log.Warn("cannot close shared filters", "err", err)
		}
	}
	for _, r := range rt.Routes {
		if r.Chain != nil {
			if err := r.Chain.Close(); err != nil {
				rt.log.Warn("cannot close filter chain", "route", r.Info.Name, "err", err)
			}
		}
	}
	if rt.NotFound != nil {
		if err := rt.NotFound.Close(); err != nil {
			rt.log.Warn("cannot close the not_found filter chain", "err", err)
		}
	}
}

// Holder publishes the current Runtime; engines load it once per request.
type Holder struct {
	cur atomic.Pointer[Runtime]
}

// Acquire returns the current runtime with a reference held; the caller
// must call Release on it when the request is done.
func (h *Holder) Acquire() *Runtime {
	for {
		rt := h.cur.Load()
		if rt == nil {
			return nil
		}
		rt.acquire()
		if h.cur.Load() == rt {
			return rt
		}
		// Swapped while acquiring: drop the stale reference and retry.
		rt.Release()
	}
}

// Load returns the current runtime without taking a reference (for
// read-only peeks such as the admin endpoints).
func (h *Holder) Load() *Runtime { return h.cur.Load() }

// Swap installs next and retires the previous runtime.
func (h *Holder) Swap(next *Runtime) {
	prev := h.cur.Swap(next)
	if prev != nil {
		prev.retire(next)
	}
}

// Close retires the current runtime.
func (h *Holder) Close() {
	if rt := h.cur.Swap(nil); rt != nil {
		rt.retire(nil)
	}
}
