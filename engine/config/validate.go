package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/tollgate-proxy/tollgate/filters"
)

// Validate checks the config's meaning: addresses, names, references and
// limits. It does not touch the file system (TLS files are read when the
// engine loads them), filter names (the engine checks them against its
// registry) or route pattern syntax (the router checks it). Every problem is
// returned, positioned when the config came from Load, joined with
// errors.Join.
func (c *Config) Validate() error {
	errs := c.validate()
	if len(errs) == 0 {
		return nil
	}
	return joinSorted(errs)
}

type validator struct {
	c    *Config
	errs []error
}

// errorf records a problem with the setting at path, unless decoding already
// reported that setting.
func (v *validator) errorf(path, format string, args ...any) {
	o := v.c.origin
	if o.suppressed(path) {
		return
	}
	p := o.lookup(path)
	file := v.c.Path
	if o != nil {
		file = o.file
	}
	v.errs = append(v.errs, &Error{File: file, Line: p.line, Col: p.col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// at returns "line N" for the setting at path, for "first defined at"
// notes, or "" when unknown.
func (v *validator) at(path string) string {
	if o := v.c.origin; o != nil {
		if p, ok := o.at[path]; ok && p.line > 0 {
			return " (first defined at line " + strconv.Itoa(p.line) + ")"
		}
	}
	return ""
}

// user names the setting at path that first used an address.
func (v *validator) user(path string) string {
	at := v.at(path)
	if path == "admin.listen" && at == "" && v.c.Admin.Listen == DefaultAdminListen {
		return "the admin listener (its default address)"
	}
	return path + at
}

func (c *Config) validate() []error {
	v := &validator{c: c}
	switch c.Log.Level {
	case "", "debug", "info", "warn", "error":
	default:
		v.errorf("log.level", "unknown log level %q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		v.errorf("log.format", "unknown log format %q: want text or json", c.Log.Format)
	}
	if c.Admin.Listen != "" {
		if msg := checkAddr(c.Admin.Listen, true, true); msg != "" {
			v.errorf("admin.listen", "%s", msg)
		} else if c.Admin.Token == "" && !isLoopback(c.Admin.Listen) {
			v.errorf("admin.listen", "admin listener on non-loopback address %q needs admin.token: metrics, profiles and the dashboard must not be open to the network", c.Admin.Listen)
		}
	}
	switch c.Metrics.Histograms {
	case "", "prometheus", "vmrange":
	default:
		v.errorf("metrics.histograms", "unknown histogram kind %q: want prometheus (le buckets, for any Prometheus) or vmrange (VictoriaMetrics only)", c.Metrics.Histograms)
	}

	if len(c.Listeners) == 0 {
		v.errorf("listeners", "at least one listener is required")
	}
	names := map[string]string{}
	addrs := map[string]string{}
	if c.Admin.Listen != "" {
		addrs[c.Admin.Listen] = "admin.listen"
	}
	for i := range c.Listeners {
		v.listener(indexPath("listeners", i), &c.Listeners[i], names, addrs)
	}

	upstreams := map[string]string{}
	for i := range c.Upstreams {
		p := indexPath("upstreams", i)
		u := &c.Upstreams[i]
		v.unique(fieldPath(p, "name"), "upstream", u.Name, upstreams)
		if len(u.Targets) == 0 {
			v.errorf(fieldPath(p, "targets"), "at least one target is required")
		}
		for j, t := range u.Targets {
			if msg := checkAddr(t, false, false); msg != "" {
				v.errorf(indexPath(fieldPath(p, "targets"), j), "%s", msg)
			}
		}
		v.nonNegative(fieldPath(p, "connect_timeout"), int64(u.ConnectTimeout))
		v.nonNegative(fieldPath(p, "fail_timeout"), int64(u.FailTimeout))
		v.nonNegative(fieldPath(p, "timeout"), int64(u.Timeout))
		v.nonNegative(fieldPath(p, "idle_timeout"), int64(u.IdleTimeout))
		v.nonNegative(fieldPath(p, "max_connections"), int64(u.MaxConnections))
		for j, h := range u.RemoveHeaders {
			if !filters.IsToken(h) {
				v.errorf(indexPath(fieldPath(p, "remove_headers"), j), "invalid header name %q", h)
			}
		}
		for h, val := range u.SetHeaders {
			if !filters.IsToken(h) {
				v.errorf(fieldPath(fieldPath(p, "set_headers"), h), "invalid header name %q", h)
			} else if strings.ContainsAny(val, "\r\n\x00") {
				v.errorf(fieldPath(fieldPath(p, "set_headers"), h), "header value of %q contains a line break or NUL", h)
			}
		}
	}

	shared := v.sharedFilters()
	routes := map[string]string{}
	for i := range c.Routes {
		p := indexPath("routes", i)
		r := &c.Routes[i]
		v.unique(fieldPath(p, "name"), "route", r.Name, routes)
		if strings.ContainsAny(r.Host, "/ \t") {
			v.errorf(fieldPath(p, "host"), "invalid host %q: want a Host header value such as api.example.com", r.Host)
		}
		seen := map[string]bool{}
		for j, m := range r.Methods {
			mp := indexPath(fieldPath(p, "methods"), j)
			switch {
			case !filters.IsToken(m):
				v.errorf(mp, "invalid method %q: want an HTTP method token such as GET", m)
			case strings.ToUpper(m) != m:
				v.errorf(mp, "method %q must be upper-case (%q)", m, strings.ToUpper(m))
			case seen[m]:
				v.errorf(mp, "duplicate method %q", m)
			}
			seen[m] = true
		}
		switch {
		case r.Path == "":
			v.errorf(fieldPath(p, "path"), "path is required")
		case r.Path[0] != '/':
			v.errorf(fieldPath(p, "path"), "invalid path %q: want a pattern starting with '/'", r.Path)
		}
		switch {
		case r.Upstream == "":
			v.errorf(fieldPath(p, "upstream"), "upstream is required")
		case upstreams[r.Upstream] == "":
			v.errorf(fieldPath(p, "upstream"), "unknown upstream %q%s", r.Upstream, knownList(c.Upstreams))
		}
		v.nonNegative(fieldPath(p, "max_body_bytes"), int64(r.MaxBodyBytes))
		v.nonNegative(fieldPath(p, "timeout"), int64(r.Timeout))
		for j := range r.Filters {
			v.routeFilter(indexPath(fieldPath(p, "filters"), j), &r.Filters[j], shared)
		}
	}
	if c.NotFound != nil {
		for j := range c.NotFound.Filters {
			v.routeFilter(indexPath("not_found.filters", j), &c.NotFound.Filters[j], shared)
		}
	}
	v.nonNegative("limits.max_in_flight", int64(c.Limits.MaxInFlight))
	if err := c.Insight.Validate(); err != nil {
		v.errorf("insight", "%v", err)
	}
	if c.Audit != nil {
		v.audit(c.Audit)
	}
	return v.errs
}

// sharedFilters validates the top-level filters list and returns its ids.
func (v *validator) sharedFilters() map[string]string {
	ids := map[string]string{}
	for i := range v.c.Filters {
		p := indexPath("filters", i)
		f := &v.c.Filters[i]
		if f.ID == "" {
			v.errorf(fieldPath(p, "id"), "id is required: routes refer to a shared filter by its id")
		} else {
			v.unique(fieldPath(p, "id"), "shared filter", f.ID, ids)
		}
		if f.Use != "" {
			v.errorf(fieldPath(p, "use"), "a shared filter cannot use another; name its kind instead")
		}
		if f.Name == "" {
			v.errorf(fieldPath(p, "name"), "filter name is required")
		}
	}
	return ids
}

func (v *validator) routeFilter(p string, f *FilterSpec, shared map[string]string) {
	switch {
	case f.ID != "":
		v.errorf(fieldPath(p, "id"), "id names shared filters in the top-level filters list; a route's entry has none")
	case f.Use != "" && (f.Name != "" || f.Config.Kind != 0):
		v.errorf(fieldPath(p, "use"), "an entry either uses a shared filter or names a kind with its config, not both")
	case f.Use != "" && shared[f.Use] == "":
		v.errorf(fieldPath(p, "use"), "unknown shared filter %q", f.Use)
	case f.Use == "" && f.Name == "":
		v.errorf(fieldPath(p, "name"), "filter name is required (or use: the id of a shared filter)")
	}
}

func (v *validator) audit(a *Audit) {
	if a.Dir == "" {
		v.errorf("audit.dir", "dir is required")
	}
	if a.SigningKeyFile == "" {
		v.errorf("audit.signing_key_file", "signing_key_file is required (make one with: tollgate audit keygen)")
	}
	switch a.Durability {
	case "", "process", "disk", "async":
	default:
		v.errorf("audit.durability", "unknown durability %q: want process, disk or async", a.Durability)
	}
	switch a.Compression {
	case "", "s2", "zstd":
	default:
		v.errorf("audit.compression", "unknown compression %q: want s2 or zstd", a.Compression)
	}
	switch a.FailurePolicy {
	case "", "fail-closed", "fail-open":
	default:
		v.errorf("audit.failure_policy", "unknown failure policy %q: want fail-closed or fail-open", a.FailurePolicy)
	}
	v.nonNegative("audit.fsync_interval", int64(a.FsyncInterval))
	v.nonNegative("audit.checkpoint_every", int64(a.CheckpointEvery))
	v.nonNegative("audit.checkpoint_interval", int64(a.CheckpointInterval))
	v.nonNegative("audit.segment_max_bytes", int64(a.SegmentMaxBytes))
	v.nonNegative("audit.min_free_bytes", int64(a.MinFreeBytes))
	v.nonNegative("audit.segment_max_age", int64(a.SegmentMaxAge))
	v.nonNegative("audit.retain_segments", int64(a.RetainSegments))
	v.nonNegative("audit.retain_age", int64(a.RetainAge))
	if a.SinkURL != "" && !strings.HasPrefix(a.SinkURL, "http://") && !strings.HasPrefix(a.SinkURL, "https://") {
		v.errorf("audit.sink_url", "invalid sink URL %q: want http:// or https://", a.SinkURL)
	}
	if sh := a.Ship; sh != nil && sh.Postgres != nil {
		pg := sh.Postgres
		switch u, err := url.Parse(pg.URL); {
		case pg.URL == "":
			v.errorf("audit.ship.postgres.url", "url is required")
		case err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "":
			v.errorf("audit.ship.postgres.url", "invalid PostgreSQL URL: want postgres://user@host:port/database")
		}
		v.nonNegative("audit.ship.postgres.max_lag", int64(pg.MaxLag))
	}
}

func (v *validator) listener(p string, l *Listener, names, addrs map[string]string) {
	v.unique(fieldPath(p, "name"), "listener", l.Name, names)
	lp := fieldPath(p, "listen")
	switch msg := checkAddr(l.Listen, true, true); {
	case l.Listen == "":
		v.errorf(lp, "listen is required")
	case msg != "":
		v.errorf(lp, "%s", msg)
	case strings.HasSuffix(l.Listen, ":0"):
		// Port 0 picks a free port on every bind: never a clash.
	case addrs[l.Listen] != "":
		v.errorf(lp, "address %q is already used by %s", l.Listen, v.user(addrs[l.Listen]))
	default:
		addrs[l.Listen] = lp
	}
	switch l.Engine {
	case "", "auto", "fasthttp":
	case "gnet":
		if l.TLS != nil {
			v.errorf(fieldPath(p, "engine"), "the gnet engine does not terminate TLS; use engine: fasthttp for a TLS listener")
		}
	default:
		v.errorf(fieldPath(p, "engine"), "unknown engine %q: want auto, gnet or fasthttp", l.Engine)
	}
	if t := l.TLS; t != nil {
		tp := fieldPath(p, "tls")
		if t.Cert == "" {
			v.errorf(fieldPath(tp, "cert"), "cert is required when tls is set")
		}
		if t.Key == "" {
			v.errorf(fieldPath(tp, "key"), "key is required when tls is set")
		}
		switch t.MinVersion {
		case "", "1.2", "1.3":
		default:
			v.errorf(fieldPath(tp, "min_version"), "unsupported TLS version %q: want \"1.2\" or \"1.3\"", t.MinVersion)
		}
		switch t.ClientAuth {
		case "", "require", "optional":
			if t.ClientAuth != "" && t.ClientCA == "" {
				v.errorf(fieldPath(tp, "client_auth"), "client_auth needs client_ca: the CAs that sign client certificates")
			}
		default:
			v.errorf(fieldPath(tp, "client_auth"), "unknown client_auth %q: want require or optional", t.ClientAuth)
		}
	}
	for j, s := range l.TrustedProxies {
		if _, err := ParseTrustedProxy(s); err != nil {
			v.errorf(indexPath(fieldPath(p, "trusted_proxies"), j), "%v", err)
		}
	}
	v.nonNegative(fieldPath(p, "read_timeout"), int64(l.ReadTimeout))
	v.nonNegative(fieldPath(p, "header_timeout"), int64(l.HeaderTimeout))
	v.nonNegative(fieldPath(p, "write_timeout"), int64(l.WriteTimeout))
	v.nonNegative(fieldPath(p, "idle_timeout"), int64(l.IdleTimeout))
	v.nonNegative(fieldPath(p, "max_connections"), int64(l.MaxConnections))
	v.nonNegative(fieldPath(p, "max_header_bytes"), int64(l.MaxHeaderBytes))
	v.nonNegative(fieldPath(p, "max_body_bytes"), int64(l.MaxBodyBytes))
	v.nonNegative(fieldPath(p, "stream_threshold"), int64(l.StreamThreshold))
}

// unique checks that name is set and not yet in seen, then records it.
func (v *validator) unique(path, kind, name string, seen map[string]string) {
	if name == "" {
		v.errorf(path, "%s name is required", kind)
		return
	}
	if first, ok := seen[name]; ok {
		v.errorf(path, "duplicate %s name %q%s", kind, name, v.at(first))
		return
	}
	seen[name] = path
}

func (v *validator) nonNegative(path string, n int64) {
	if n < 0 {
		v.errorf(path, "must not be negative")
	}
}

func knownList(us []Upstream) string {
	if len(us) == 0 {
		return ": no upstreams are defined"
	}
	names := make([]string, 0, len(us))
	for _, u := range us {
		if u.Name != "" {
			names = append(names, strconv.Quote(u.Name))
		}
	}
	return " (defined: " + strings.Join(names, ", ") + ")"
}

// checkAddr returns why s is not a valid host:port, or "". Listeners may use
// port 0 (a free port) and an empty host (every interface); upstream targets
// may not.
func checkAddr(s string, listen, emptyHost bool) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("invalid address %q: want host:port, such as 127.0.0.1:8080", s)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || (n == 0 && !listen) {
		return fmt.Sprintf("invalid port in %q: want a number from 1 to 65535", s)
	}
	if host == "" {
		if emptyHost {
			return ""
		}
		return fmt.Sprintf("invalid address %q: the host is missing", s)
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	if !isHostname(host) {
		return fmt.Sprintf("invalid host in %q: want an IP address or a DNS name", s)
	}
	return ""
}

// isHostname reports whether s is a DNS name (RFC 1123 §2.1), allowing '_'
// as container names commonly use it.
func isHostname(s string) bool {
	if len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// ParseTrustedProxy parses one trusted_proxies entry: a CIDR such as
// "10.0.0.0/8" or a single address such as "10.0.0.7". A CIDR with host
// bits set ("10.0.0.1/8") is refused, since it is unclear whether the
// network or the host was meant.
func ParseTrustedProxy(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("invalid trusted proxy %q: want a CIDR such as 10.0.0.0/8 or an IP address", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid trusted proxy %q: want a CIDR such as 10.0.0.0/8 or an IP address", s)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("invalid trusted proxy %q: host bits are set; write %q for the network or %q for one host", s, m.String(), netip.PrefixFrom(p.Addr(), p.Addr().BitLen()).String())
	}
	return p, nil
}

// TrustedPrefixes parses the listener's trusted_proxies (see
// ParseTrustedProxy).
func (l *Listener) TrustedPrefixes() ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(l.TrustedProxies))
	for _, s := range l.TrustedProxies {
		p, err := ParseTrustedProxy(s)
		if err != nil {
			return nil, fmt.Errorf("cannot parse trusted proxies of listener %q: %w", l.Name, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// isLoopback reports whether a listen address binds only loopback
// interfaces ("localhost", 127.0.0.0/8, ::1). An empty host binds every
// interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
