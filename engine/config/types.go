package config

import (
	"go.yaml.in/yaml/v3"

	"github.com/tollgate-proxy/tollgate/engine/insight"
)

// Config is the whole Tollgate configuration file.
type Config struct {
	// Log configures operational logging.
	Log Log `yaml:"log"`
	// Admin configures the admin listener (/metrics, /healthz, /readyz).
	Admin Admin `yaml:"admin"`
	// Metrics configures the series served at /metrics on the admin listener.
	Metrics Metrics `yaml:"metrics"`
	// Listeners are the client-facing listeners.
	Listeners []Listener `yaml:"listeners"`
	// Upstreams are the backend pools that routes forward to.
	Upstreams []Upstream `yaml:"upstreams"`
	// Routes map requests to upstreams and filter chains; the most specific match wins.
	Routes []Route `yaml:"routes"`
	// Filters are named filter instances that routes share with use; each is built once per configuration, so its key sets, caches and counters are shared by every route that uses it.
	Filters []FilterSpec `yaml:"filters"`
	// NotFound is a filter chain run for requests no route matches, before they are answered 404 or 405, so that an anonymous client gets 401 and cannot map which routes exist; without it they are answered at once.
	NotFound *NotFound `yaml:"not_found"`
	// Limits are process-wide protections against overload.
	Limits Limits `yaml:"limits"`
	// Audit configures the verifiable audit log; without it no audit log is written.
	Audit *Audit `yaml:"audit"`
	// Insight configures the live statistics, the unusual-access detectors and the dashboard on the admin listener; every setting has a default.
	Insight insight.Config `yaml:"insight"`

	// Path is the file the config was read from (not part of the YAML).
	Path string `yaml:"-"`

	// origin keeps the position of every setting, for Validate's errors.
	origin *origin
}

// NotFound is the chain for requests that match no route.
type NotFound struct {
	// Filters run in order, as a route's do (use refers to a shared instance); a filter that may wait (introspection, a concurrency queue) is not allowed here.
	Filters []FilterSpec `yaml:"filters"`
}

// Log configures operational logging.
type Log struct {
	// Level is the minimum level logged: debug, info, warn or error; it defaults to info.
	Level string `yaml:"level"`
	// Format is the log line format: text or json; it defaults to text.
	Format string `yaml:"format"`
}

// Admin configures the admin listener.
type Admin struct {
	// Listen is the admin listener's address; it defaults to 127.0.0.1:9901, so the admin endpoints are reachable only from the host itself.
	Listen string `yaml:"listen"`
	// Token is a bearer token every admin request must present (write it as ${ENV_VAR}); it is required when Listen is not a loopback address.
	Token string `yaml:"token"`
}

// Metrics configures the series served at /metrics.
type Metrics struct {
	// Histograms is the kind of the latency histograms (tollgate_http_request_duration_seconds): prometheus (the default: _bucket series with le bounds from 0.5ms to 10s, which histogram_quantile turns into percentiles on Prometheus and VictoriaMetrics alike) or vmrange (VictoriaMetrics' log-scale buckets with a vmrange label, which only VictoriaMetrics reads). It is read at startup; a reload that changes it takes effect on restart.
	Histograms string `yaml:"histograms"`
}

// Listener is a client-facing HTTP/1.1 listener.
type Listener struct {
	// Name identifies the listener in logs and metrics; it is required and unique.
	Name string `yaml:"name"`
	// Listen is the address to listen on, such as 127.0.0.1:8080; an empty host means every interface and port 0 a free port.
	Listen string `yaml:"listen"`
	// Engine is the network front end serving the listener: auto (the default: the event-loop engine, gnet, for plain HTTP; the goroutine engine, fasthttp, for TLS listeners or when an upstream uses TLS), gnet or fasthttp.
	Engine string `yaml:"engine"`
	// TLS enables HTTPS on the listener; without it the listener speaks plain HTTP.
	TLS *TLS `yaml:"tls"`
	// TrustedProxies lists the CIDRs (or single IP addresses) whose X-Forwarded-For and X-Request-Id headers are believed; empty means none are.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// TrustRequestID keeps a client's well-formed X-Request-Id (at most 128 visible ASCII bytes) for correlation without believing its X-Forwarded-For; a trusted proxy's id is kept either way. It defaults to false.
	TrustRequestID bool `yaml:"trust_request_id"`
	// ReadTimeout bounds reading a whole request, headers and body; it defeats slow clients and defaults to 30s.
	ReadTimeout Duration `yaml:"read_timeout"`
	// HeaderTimeout bounds reading the request line and headers; it defaults to 10s.
	HeaderTimeout Duration `yaml:"header_timeout"`
	// WriteTimeout bounds writing a buffered response; streamed responses use IdleTimeout between chunks instead. It defaults to 30s.
	WriteTimeout Duration `yaml:"write_timeout"`
	// IdleTimeout closes keep-alive connections idle for longer; it defaults to 60s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxConnections caps concurrent client connections; it defaults to 10000.
	MaxConnections int `yaml:"max_connections"`
	// MaxHeaderBytes caps the request line plus headers; it defaults to 16KiB.
	MaxHeaderBytes ByteSize `yaml:"max_header_bytes"`
	// MaxBodyBytes caps request bodies unless a route sets its own limit; it defaults to 10MiB.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// StreamThreshold is the body size above which request and response bodies are streamed instead of buffered; it defaults to 1MiB.
	StreamThreshold ByteSize `yaml:"stream_threshold"`
}

// TLS configures a TLS listener.
type TLS struct {
	// Cert is the PEM certificate chain file; it is required.
	Cert string `yaml:"cert"`
	// Key is the PEM private key file; it is required.
	Key string `yaml:"key"`
	// MinVersion is the lowest TLS version accepted: "1.2" or "1.3"; it defaults to "1.2".
	MinVersion string `yaml:"min_version"`
	// ClientCA is a PEM file of the CAs that sign client certificates; setting it turns on mutual TLS.
	ClientCA string `yaml:"client_ca"`
	// ClientAuth says whether a client certificate is required (require, the default with client_ca) or only verified when one is sent (optional).
	ClientAuth string `yaml:"client_auth"`
}

// Upstream is a pool of backend addresses served round-robin over keep-alive connections.
type Upstream struct {
	// Name identifies the upstream; routes refer to it. It is required and unique.
	Name string `yaml:"name"`
	// Targets are host:port addresses of the backends; at least one is required.
	Targets []string `yaml:"targets"`
	// TLS connects to the targets over HTTPS.
	TLS bool `yaml:"tls"`
	// ConnectTimeout bounds establishing a connection to a target; it defaults to 5s.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// Timeout bounds each read from a target: the wait for the response headers and every gap between body chunks, like nginx's proxy_read_timeout; it answers 504 when exceeded and defaults to 30s.
	Timeout Duration `yaml:"timeout"`
	// IdleTimeout closes pooled connections idle for longer; it defaults to 60s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxConnections caps connections per target; it defaults to 1024.
	MaxConnections int `yaml:"max_connections"`
	// FailTimeout leaves out a target that could not be connected to for this long, while another target of the upstream is up (like nginx's fail_timeout with max_fails 1); it defaults to 10s.
	FailTimeout Duration `yaml:"fail_timeout"`
	// RemoveHeaders are request headers removed before a request goes to this upstream, such as a client credential the backend must not see.
	RemoveHeaders []string `yaml:"remove_headers"`
	// SetHeaders are request headers set on every request to this upstream, replacing the client's (for example the backend's own credential, written as ${ENV_VAR}), so API consumers never hold it.
	SetHeaders map[string]string `yaml:"set_headers"`
}

// Route maps matching requests to an upstream through a chain of filters.
type Route struct {
	// Name identifies the route in logs, metrics and the audit log; it is required and unique.
	Name string `yaml:"name"`
	// Host restricts the route to one Host header value (optional).
	Host string `yaml:"host"`
	// Methods restricts the route to these upper-case methods; empty means all.
	Methods []string `yaml:"methods"`
	// Path is the path pattern: literal segments, {name} parameters, and a trailing /* or {name...} wildcard. It must start with '/'.
	Path string `yaml:"path"`
	// Upstream names the upstream requests are forwarded to; it is required.
	Upstream string `yaml:"upstream"`
	// MaxBodyBytes overrides the listener's request body limit for this route; zero keeps the listener's.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// Timeout overrides the upstream's timeout for this route; zero keeps the upstream's.
	Timeout Duration `yaml:"timeout"`
	// Public marks a route meant to be reached without a credential, so tollgate check does not warn that it has no authentication filter.
	Public bool `yaml:"public"`
	// Filters run in order for every request on the route.
	Filters []FilterSpec `yaml:"filters"`

	// Pos is the route's position in the file, "file:line:col".
	Pos string `yaml:"-"`
}

// FilterSpec is one entry of a route's filter list, or a named instance in the top-level filters list.
type FilterSpec struct {
	// ID names an instance in the top-level filters list; routes refer to it with use.
	ID string `yaml:"id"`
	// Use refers to an instance of the top-level filters list instead of naming a kind here.
	Use string `yaml:"use"`
	// Name selects the filter kind.
	Name string `yaml:"name"`
	// Config is the filter's own settings, decoded strictly by the filter (see Decode).
	Config yaml.Node `yaml:"config"`

	// Pos is the entry's position in the file, "file:line:col".
	Pos string `yaml:"-"`

	// origin and path position the errors of Decode.
	origin *origin
	path   string
}

// Limits are process-wide protections against overload.
type Limits struct {
	// MaxInFlight sheds requests with 503 once this many are being served at once, before the process falls over; zero means no cap.
	MaxInFlight int `yaml:"max_in_flight"`
}

// Audit configures the verifiable audit log.
type Audit struct {
	// Dir is the directory of the log's segment files; it is created if missing and is required.
	Dir string `yaml:"dir"`
	// SigningKeyFile holds the Ed25519 checkpoint signing key made by tollgate audit keygen; it is required.
	SigningKeyFile string `yaml:"signing_key_file"`
	// Durability says when a response may be released: process (the record is in the file, the default), disk (the record is fsynced) or async (unsafe, for benchmarks only).
	Durability string `yaml:"durability"`
	// Compression is the block codec: s2 (the default, about a quarter of zstd's CPU per record) or zstd (about 20% smaller files).
	Compression string `yaml:"compression"`
	// FsyncInterval bounds what a power loss can take in process mode; it defaults to 100ms.
	FsyncInterval Duration `yaml:"fsync_interval"`
	// CheckpointEvery signs a checkpoint after this many records; it defaults to 65536.
	CheckpointEvery int `yaml:"checkpoint_every"`
	// CheckpointInterval signs a checkpoint at least this often while records arrive; it defaults to 1s.
	CheckpointInterval Duration `yaml:"checkpoint_interval"`
	// SegmentMaxBytes is the size at which a segment file is sealed and a new one started; it defaults to 128MiB.
	SegmentMaxBytes ByteSize `yaml:"segment_max_bytes"`
	// SegmentMaxAge seals a segment this long after it was started; it defaults to 24h.
	SegmentMaxAge Duration `yaml:"segment_max_age"`
	// MinFreeBytes is a high-water mark: while the file system holding dir has less free space than this, the log counts as unwritable (failure_policy applies) instead of running into a full disk; zero disables it.
	MinFreeBytes ByteSize `yaml:"min_free_bytes"`
	// FailurePolicy says what happens when the log cannot be written: fail-closed answers 503 (the default), fail-open serves and counts the unrecorded requests.
	FailurePolicy string `yaml:"failure_policy"`
	// SinkURL receives every signed checkpoint as an HTTP POST, so a copy lives off the host.
	SinkURL string `yaml:"sink_url"`
	// SinkCommand is run for every signed checkpoint with the checkpoint on its standard input.
	SinkCommand []string `yaml:"sink_command"`
	// RetainSegments keeps at most this many segment files, deleting the oldest sealed ones once a signed checkpoint covers them (and, with ship.postgres, once the database holds them); zero keeps every segment.
	RetainSegments int `yaml:"retain_segments"`
	// RetainAge deletes sealed segments older than this once a signed checkpoint covers them (and, with ship.postgres, once the database holds them); zero keeps every segment.
	RetainAge Duration `yaml:"retain_age"`
	// Strict writes a decision record before a request is forwarded upstream, and the usual completion record after; with durability disk the decision is on disk before the upstream sees the request.
	Strict bool `yaml:"strict"`
	// Ship copies the records and signed checkpoints to a database as they are written, so several instances can be searched and verified in one place; the local log stays the source of truth.
	Ship *AuditShip `yaml:"ship"`
}

// AuditShip configures where the audit log is shipped.
type AuditShip struct {
	// Postgres ships to PostgreSQL, exactly once per record (origin and index), resuming after a restart from the last record the database holds.
	Postgres *AuditShipPostgres `yaml:"postgres"`
}

// AuditShipPostgres configures shipping the audit log to PostgreSQL.
type AuditShipPostgres struct {
	// URL is the PostgreSQL connection URL, such as postgres://tollgate@db.internal:5432/audit (write a password as ${ENV_VAR}); it is required.
	URL string `yaml:"url"`
	// MaxLag turns on fail-closed shipping: while more than this many records wait to be shipped, /readyz reports not ready and requests are refused with 503 audit.unavailable. Zero, the default, keeps serving whatever the lag; the records wait in the local log either way.
	MaxLag int `yaml:"max_lag"`
}

// Engines a listener can be served by.
const (
	EngineAuto     = "auto"
	EngineGnet     = "gnet"
	EngineFasthttp = "fasthttp"
)

// ListenerEngine resolves the engine that serves l: force, when not empty
// (the command line's --engine), else the listener's own setting, where
// auto means the event-loop engine unless the listener terminates TLS or
// an upstream is reached over TLS, which the event loop does not speak.
func (c *Config) ListenerEngine(l Listener, force string) string {
	e := l.Engine
	if force != "" && force != EngineAuto {
		e = force
	}
	if e == EngineGnet || e == EngineFasthttp {
		return e
	}
	if l.TLS != nil {
		return EngineFasthttp
	}
	for _, u := range c.Upstreams {
		if u.TLS {
			return EngineFasthttp
		}
	}
	return EngineGnet
}
