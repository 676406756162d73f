package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"text/template"
)

// kind says what runs behind a target's port.
type kind int

const (
	kindDirect   kind = iota // no proxy: wrk talks to the upstream
	kindTollgate             // BIN run -c FILE
	kindNginx
	kindHAProxy
	kindCaddy
)

func (k kind) String() string {
	return [...]string{"direct", "tollgate", "nginx", "haproxy", "caddy"}[k]
}

// request is what wrk sends to a target.
type request struct {
	Method  string   // empty means GET
	Path    string   // request target, such as "/bench"
	Headers []string // "Name: value" pairs
	Body    string
	// RotateHeader, if set, takes the next of RotateValues on every
	// request (for example a different token each time).
	RotateHeader string
	RotateValues []string
}

// method returns the request method, GET when unset. It is also the row's
// peer group: ratio columns compare a row only with peers of its method.
func (r request) method() string {
	if r.Method == "" {
		return "GET"
	}
	return r.Method
}

// target is one row of the comparison.
type target struct {
	// Name is the row label and the --targets key.
	Name string
	Kind kind
	// Config is the text/template of Tollgate's YAML config (Tollgate rows
	// only), executed with a configEnv.
	Config string
	// Request is what wrk sends; Path defaults to /bench.
	Request request
	// Default rows run when --targets is not given.
	Default bool
	// Peer, if set, makes the row a reference of the ratio columns that
	// name it ("direct", "nginx", "haproxy-full"): every row of the same
	// request method is divided by it. One row per peer and method.
	Peer string
	// AuditOff, if set, names the row that is this one with the audit log
	// off on the same engine: the "× audit off" columns divide by it, so
	// the audit log's cost comes out of one run.
	AuditOff string
	// Prepare, if set, writes the row's key material into its directory
	// before the config is rendered, and adds to what wrk sends.
	Prepare func(dir string, req *request) error
	// Redis, if set, gives the row a redis-server of its own, started in
	// its directory on a free loopback port (configEnv.Redis) and stopped
	// with the row; its CPU is not counted in the row's proxy CPU/req.
	Redis bool
	// Postgres rows need the PostgreSQL server loadbench starts for them
	// (configEnv.Postgres); without one installed they are skipped.
	Postgres bool
}

// targets is the table of known rows, in display order. Add a Tollgate row
// by adding an entry with its own Config and Request.
//
// GET rows send GET /bench; POST rows send orderRequest. Rows of a method
// are compared with the peers (Peer) of the same method.
var targets = []target{
	{Name: "direct", Kind: kindDirect, Default: true, Peer: "direct"},
	{Name: "direct-post", Kind: kindDirect, Request: orderRequest, Peer: "direct"},
	// "tollgate" runs on the default engine, whichever it is; the
	// -fasthttp and -gnet rows name theirs.
	{Name: "tollgate", Kind: kindTollgate, Config: tollgatePlain, Default: true},
	{Name: "tollgate-fasthttp", Kind: kindTollgate, Config: onEngine("fasthttp", tollgatePlain)},
	{Name: "tollgate-gnet", Kind: kindTollgate, Config: onEngine("gnet", tollgatePlain), Default: true},
	{Name: "tollgate-fasthttp-post", Kind: kindTollgate, Config: onEngine("fasthttp", tollgatePlain), Request: orderRequest},
	{Name: "tollgate-gnet-post", Kind: kindTollgate, Config: onEngine("gnet", tollgatePlain), Request: orderRequest},
	{Name: "tollgate-fasthttp-full-get", Kind: kindTollgate, Config: onEngine("fasthttp", tollgateFull), Prepare: prepareFull},
	{Name: "tollgate-gnet-full-get", Kind: kindTollgate, Config: onEngine("gnet", tollgateFull), Prepare: prepareFull},
	{Name: "tollgate-fasthttp-full-post", Kind: kindTollgate, Config: onEngine("fasthttp", tollgateFull), Prepare: prepareFull, Request: orderRequest},
	{Name: "tollgate-gnet-full-post", Kind: kindTollgate, Config: onEngine("gnet", tollgateFull), Prepare: prepareFull, Request: orderRequest},
	// The full pipeline with its rate limit counted locally, then in
	// Redis (mode exact: one round trip per request; mode lease: batches
	// refilled ahead): what a cluster-wide limit costs.
	{Name: "tollgate-gnet-full-local", Kind: kindTollgate, Config: onEngine("gnet", tollgateFull), Prepare: prepareFull},
	{Name: "tollgate-gnet-full-redis-exact", Kind: kindTollgate, Config: onEngine("gnet", tollgateFullRedis("exact")), Prepare: prepareFull, Redis: true},
	{Name: "tollgate-gnet-full-redis-lease", Kind: kindTollgate, Config: onEngine("gnet", tollgateFullRedis("lease, lease: 100")), Prepare: prepareFull, Redis: true},
	{Name: "haproxy-full-get", Kind: kindHAProxy, Config: haproxyFull, Prepare: prepareJWT, Peer: "haproxy-full"},
	{Name: "haproxy-full-post", Kind: kindHAProxy, Config: haproxyFull, Prepare: prepareJWT, Request: orderRequest, Peer: "haproxy-full"},
	{Name: "tollgate-jwt-rbac", Kind: kindTollgate, Config: tollgateJWTRBAC, Prepare: prepareJWT, Default: true},
	{Name: "tollgate-jwt-rbac-nocache", Kind: kindTollgate, Config: tollgateJWTRBACNoCache, Prepare: prepareJWTs(2000), Default: true},
	{Name: "haproxy-jwt", Kind: kindHAProxy, Config: haproxyJWT, Prepare: prepareJWTs(2000), Default: true},
	{Name: "tollgate-apikey-rbac", Kind: kindTollgate, Config: tollgateAPIKeyRBAC, Prepare: prepareAPIKey, Default: true},
	{Name: "tollgate-audit-process", AuditOff: "tollgate", Kind: kindTollgate, Config: tollgateAudit("process"), Prepare: prepareAudit, Default: true},
	{Name: "tollgate-audit-disk", AuditOff: "tollgate", Kind: kindTollgate, Config: tollgateAudit("disk"), Prepare: prepareAudit},
	{Name: "tollgate-audit-async", AuditOff: "tollgate", Kind: kindTollgate, Config: tollgateAudit("async"), Prepare: prepareAudit},
	{Name: "tollgate-fasthttp-audit-process", AuditOff: "tollgate-fasthttp", Kind: kindTollgate, Config: onEngine("fasthttp", tollgateAudit("process")), Prepare: prepareAudit},
	{Name: "tollgate-gnet-audit-process", AuditOff: "tollgate-gnet", Kind: kindTollgate, Config: onEngine("gnet", tollgateAudit("process")), Prepare: prepareAudit},
	{Name: "tollgate-audit-ship", AuditOff: "tollgate", Kind: kindTollgate, Config: tollgateAuditShip, Prepare: prepareAuditShip, Postgres: true},
	{Name: "tollgate-gnet-audit-ship", AuditOff: "tollgate-gnet", Kind: kindTollgate, Config: onEngine("gnet", tollgateAuditShip), Prepare: prepareAuditShip, Postgres: true},
	{Name: "nginx", Kind: kindNginx, Default: true, Peer: "nginx"},
	{Name: "nginx-post", Kind: kindNginx, Request: orderRequest, Peer: "nginx"},
	{Name: "haproxy", Kind: kindHAProxy, Default: true},
	{Name: "haproxy-post", Kind: kindHAProxy, Request: orderRequest},
	{Name: "caddy", Kind: kindCaddy, Default: true},
}

// presets are named selections that --targets expands in place, in their
// own order (GET rows, then POST rows, each followed by its peers).
var presets = map[string][]string{
	// pipeline: plain forwarding and the full pipeline on both engines,
	// for GET and POST, against nginx and HAProxy with its nearest
	// equivalent of the full pipeline.
	"pipeline": {
		"tollgate-fasthttp", "tollgate-gnet", "tollgate-fasthttp-full-get", "tollgate-gnet-full-get", "nginx", "haproxy-full-get",
		"tollgate-fasthttp-post", "tollgate-gnet-post", "tollgate-fasthttp-full-post", "tollgate-gnet-full-post", "nginx-post", "haproxy-full-post",
	},
	// audit: the audit log's cost in its default mode on each engine, each
	// row beside the same engine with the audit log off (the "× audit off"
	// columns).
	"audit": {"tollgate-fasthttp", "tollgate-fasthttp-audit-process", "tollgate-gnet", "tollgate-gnet-audit-process"},
	// ratelimit: the full pipeline with a local rate limit against the
	// same limit counted in Redis, exact and leased.
	"ratelimit": {"tollgate-gnet-full-local", "tollgate-gnet-full-redis-exact", "tollgate-gnet-full-redis-lease"},
	// idle: the rows of the idle keep-alive measurement (--idle N, whose
	// default selection this is): both engines against nginx and HAProxy.
	"idle": {"tollgate-gnet", "tollgate-fasthttp", "nginx", "haproxy"},
	// ship: the audit log with and without shipping to PostgreSQL, on
	// both engines (the database's own CPU is not counted: it runs apart).
	"ship": {"tollgate", "tollgate-audit-process", "tollgate-audit-ship", "tollgate-gnet", "tollgate-gnet-audit-process", "tollgate-gnet-audit-ship"},
}

// orderPath is where the POST rows send their order: the demo upstream
// answers POST /api/v1/orders (201 with the order echoed), while /bench
// answers GET and HEAD only.
const orderPath = "/api/v1/orders"

// benchOrder is the POST rows' body: 103 bytes of JSON that
// tollgateFull's schema accepts.
const benchOrder = `{"sku":"TG-BENCH-0001","qty":3,"customer":"42","note":"fixed load-bench order","tags":["bench","post"]}`

// orderRequest is what every POST row sends, so they all hit the same
// upstream handler with the same bytes.
var orderRequest = request{
	Method:  "POST",
	Path:    orderPath,
	Headers: []string{"Content-Type: application/json"},
	Body:    benchOrder,
}

// configEnv is what config templates are executed with.
type configEnv struct {
	Dir      string // the target's own temporary directory
	Listen   string // 127.0.0.1:PORT the target listens on
	Admin    string // 127.0.0.1:PORT for an admin listener, if any
	Upstream string // 127.0.0.1:PORT of the demo upstream
	Redis    string // 127.0.0.1:PORT of the row's redis-server (Redis rows)
	Postgres string // URL of the PostgreSQL server loadbench started, for Postgres rows
	Root     bool   // running as root (nginx needs "user root")
	// MaxClients is how many client connections the target must hold at
	// once: 0 in load runs (wrk's few connections fit every row's own
	// limits, which the configs then leave as they are), and --idle N plus
	// idleHeadroom in the idle mode.
	MaxClients int
}

// peerConnections is the connection limit the nginx and HAProxy configs
// had before the idle mode, and keep in load runs.
const peerConnections = 4096

// NginxWorkerConnections is nginx's worker_connections: it counts a
// worker's client and upstream connections, and nothing spreads clients
// evenly over the workers (one may accept them all), so each worker may
// hold MaxClients, plus its keep-alive upstream connections.
func (e configEnv) NginxWorkerConnections() int {
	return max(peerConnections, e.MaxClients+256)
}

// NginxRlimitNofile is nginx's worker_rlimit_nofile in the idle mode
// (0 in load runs): the workers start with the soft limit loadbench
// started with (Go's os/exec restores it in children), which may be 1024.
// The workers' descriptors are their connections, the listener and logs.
func (e configEnv) NginxRlimitNofile() int {
	if e.MaxClients == 0 {
		return 0
	}
	return e.NginxWorkerConnections() + 64
}

// HAProxyMaxConn is HAProxy's global maxconn, the concurrent client
// connections it accepts. HAProxy raises its descriptor limit to twice
// that (a client and a server connection each), and in the idle mode,
// where that may exceed the hard limit, the config says "no
// strict-limits": HAProxy then logs an alert and runs with the hard limit,
// which is enough for idle clients, as they hold no server connection.
func (e configEnv) HAProxyMaxConn() int {
	return max(peerConnections, e.MaxClients)
}

// tollgateHead starts every Tollgate config: warnings only, the admin
// listener, one listener on the default engine (onEngine names one), and
// the demo upstream. The listener's max_connections (default 10000) is
// set only in the idle mode, to hold MaxClients; its idle_timeout (60s by
// default) outlasts an idle measurement.
const tollgateHead = `log: {level: warn}
admin: {listen: "{{.Admin}}"}
listeners: [{name: bench{{with .MaxClients}}, max_connections: {{.}}{{end}}, listen: "{{.Listen}}"}]
upstreams: [{name: demo, targets: ["{{.Upstream}}"], max_connections: 256}]
`

// onEngine returns the Tollgate config template cfg with its listener
// pinned to engine. It panics when cfg does not hold tollgateHead's
// listener once, so a template edit that loses the engine fails at start
// instead of measuring the default engine under another name.
func onEngine(engine, cfg string) string {
	const l = `listen: "{{.Listen}}"}]`
	if strings.Count(cfg, l) != 1 {
		panic("onEngine: the config template has no single tollgateHead listener")
	}
	return strings.Replace(cfg, l, `listen: "{{.Listen}}", engine: `+engine+`}]`, 1)
}

// tollgateRoutes ends every Tollgate config: GET /bench for the GET rows and
// POST orderPath for the POST rows, both to the demo upstream through the
// named filter instances, in order. Every row has both routes, so a GET and
// a POST row of one config differ only in what wrk sends.
func tollgateRoutes(uses ...string) string {
	chain := ""
	if len(uses) > 0 {
		chain = ", filters: [{use: " + strings.Join(uses, "}, {use: ") + "}]"
	}
	return "routes:\n" +
		"  - {name: bench, methods: [GET], path: /bench, upstream: demo" + chain + "}\n" +
		"  - {name: orders, methods: [POST], path: " + orderPath + ", upstream: demo" + chain + "}\n"
}

// tollgatePlain forwards both routes with no filters: the proxy's bare
// forwarding cost.
var tollgatePlain = "# Tollgate, no filters.\n" + tollgateHead + tollgateRoutes()

// tollgateJWT is the filter instance "jwt": RS256 tokens of the bench
// issuer, checked against dir/jwks.json (prepareJWT writes it); the
// verified-token cache is on, as by default.
const tollgateJWT = `  - id: jwt
    name: jwtauth
    config:
      issuers: [{issuer: "https://idp.bench", audiences: [bench], jwks_file: "{{.Dir}}/jwks.json"}]
`

// tollgateRBAC is the filter instance "policy", the policy the identity rows
// check after authentication: viewer, the one role of the bench token and
// API key, may GET /bench and POST orders.
const tollgateRBAC = `  - id: policy
    name: rbac
    config:
      roles:
        viewer: {allow: [{methods: [GET], paths: ["/bench"]}, {methods: [POST], paths: ["` + orderPath + `"]}]}
`

// tollgateJWTRBAC verifies an RS256 bearer token (the same token every
// request: the verified-token cache answers) and checks RBAC.
var tollgateJWTRBAC = "# Tollgate, JWT + RBAC.\n" + tollgateHead + "filters:\n" + tollgateJWT + tollgateRBAC + tollgateRoutes("jwt", "policy")

// tollgateJWTRBACNoCache is tollgateJWTRBAC with the verified-token cache
// off, so every request pays for its signature check, as HAProxy's
// jwt_verify does.
var tollgateJWTRBACNoCache = strings.Replace(tollgateJWTRBAC,
	`jwks_file: "{{.Dir}}/jwks.json"}]`, `jwks_file: "{{.Dir}}/jwks.json"}]
      cache: {max_entries: 0}`, 1)

// tollgateAPIKeyRBAC authenticates an API key (a SHA-256 per request) and
// checks RBAC.
var tollgateAPIKeyRBAC = "# Tollgate, API key + RBAC.\n" + tollgateHead + `filters:
  - id: keys
    name: apikey
    config:
      keys: [{id: bench, subject: bench-user, roles: [viewer], sha256: "` + apiKeyHash() + `"}]
` + tollgateRBAC + tollgateRoutes("keys", "policy")

// tollgateAuditLog is the audit section in one durability mode, signed with
// dir/audit.key (prepareAudit writes it).
func tollgateAuditLog(durability string) string {
	return `audit: {dir: "{{.Dir}}/audit", signing_key_file: "{{.Dir}}/audit.key", durability: ` + durability + "}\n"
}

// tollgateAudit is the plain row with the audit log on, in one durability
// mode.
func tollgateAudit(durability string) string {
	return "# Tollgate, plain forwarding with the audit log in " + durability + " mode.\n" +
		tollgateHead + tollgateAuditLog(durability) + tollgateRoutes()
}

// tollgateAuditShip is tollgateAudit("process") shipping the log to
// PostgreSQL, each row under its own origin (prepareAuditShip).
var tollgateAuditShip = "# Tollgate, plain forwarding with the audit log in process mode, shipped to PostgreSQL.\n" +
	tollgateHead + `audit: {dir: "{{.Dir}}/audit", signing_key_file: "{{.Dir}}/audit.key", durability: process, ship: {postgres: {url: "{{.Postgres}}"}}}
` + tollgateRoutes()

// tollgateFull is the whole pipeline, on both routes: the RS256 JWT of
// tollgateJWTRBAC (one token, so the verified-token cache answers), RBAC,
// a rate limit per principal that never triggers at bench rates (it still
// reads and writes its counter and sets the RateLimit headers), JSON
// validation of the order against a small schema (GET /bench has no body
// and GET needs none: the filter looks and passes), and the audit log in
// durability process.
var tollgateFull = "# Tollgate, full pipeline: JWT + RBAC + rate limit + JSON validation + audit log (process).\n" +
	tollgateHead + tollgateAuditLog("process") + "filters:\n" + tollgateJWT + tollgateRBAC + `  - id: limit
    name: ratelimit
    config:
      policies: [{name: per-principal, rate: 1000000, burst: 1000000, key: [principal]}]
  - id: validate
    name: jsonvalidate
    config:
      schema:
        type: object
        required: [sku, qty, customer]
        additionalProperties: false
        properties:
          sku: {type: string, pattern: "^[A-Z0-9-]{1,32}$"}
          qty: {type: integer, minimum: 1, maximum: 1000}
          customer: {type: string, minLength: 1, maxLength: 16}
          note: {type: string, maxLength: 200}
          tags: {type: array, maxItems: 8, items: {type: string, maxLength: 16}}
` + tollgateRoutes("jwt", "policy", "limit", "validate")

// tollgateFullRedis is tollgateFull with its rate limit counted in the
// row's Redis in mode (with its keys), denying while Redis is down so a
// failing store shows as errors instead of flattering the row. The call
// timeout is 1s, not the 50ms default: the row measures what a decision
// costs, and on a shared bench machine a stalled redis-server would
// otherwise open the breaker and measure the fail mode instead.
func tollgateFullRedis(mode string) string {
	const local = `policies: [{name: per-principal, rate: 1000000, burst: 1000000, key: [principal]}]`
	if strings.Count(tollgateFull, local) != 1 {
		panic("tollgateFullRedis: tollgateFull's rate limit changed")
	}
	shared := `redis: {addresses: ["{{.Redis}}"], timeout: 1s}
      policies: [{name: per-principal, rate: 1000000, burst: 1000000, key: [principal], store: redis, mode: ` + mode + `, on_store_error: deny}]`
	return strings.Replace(strings.Replace(tollgateFull, local, shared, 1),
		"rate limit + JSON validation", "rate limit in Redis (mode "+mode+") + JSON validation", 1)
}

// haproxy returns an HAProxy config: two threads, server connections
// always reused, and the frontend's own lines (request rules, logging)
// before it forwards to the demo upstream. Only those lines differ between
// the HAProxy rows.
func haproxy(title, frontend string) string {
	return "# HAProxy, " + title + `
global
    nbthread 2
    maxconn {{.HAProxyMaxConn}}
{{if .MaxClients}}    no strict-limits
{{end}}
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    http-reuse always

frontend bench
    bind {{.Listen}}
` + frontend + `    default_backend demo

backend demo
    server up {{.Upstream}}
`
}

// haproxyVerify verifies the bearer token's RS256 signature with
// jwt_verify on every request (HAProxy has no verified-token cache) and
// denies when it fails.
const haproxyVerify = `    http-request set-var(txn.bearer) http_auth_bearer
    http-request deny deny_status 401 unless { var(txn.bearer),jwt_verify("RS256","{{.Dir}}/jwt-pub.pem") -m int 1 }
`

// haproxyJWT verifies the bearer token, then forwards like haproxyConfig.
var haproxyJWT = haproxy("jwt_verify (RS256) on every request, then keep-alive proxying.", haproxyVerify)

// haproxyFull is HAProxy's nearest equivalent of tollgateFull, on both
// routes:
//   - JWT: haproxyVerify, then iss, aud and exp checked on the payload
//     (jwt_verify checks the signature only). The token is the same on every
//     request, but HAProxy has no verified-token cache: it verifies the
//     signature every time.
//   - RBAC: ACLs on the token's role, the method and the path: viewer may
//     GET /bench and POST orders. HAProxy cannot test membership in a JSON
//     array, so the bench token's first role is checked.
//   - Rate limit: a stick table keyed by the token's subject, tracking
//     http_req_rate over 1s, denying past 1,000,000 (never, at bench rates).
//   - JSON validation: none. HAProxy 2.6 cannot validate a body against a
//     schema (short of Lua or an external agent), so the POST row forwards
//     the body unchecked and does less work than Tollgate's.
//   - Audit: one log line per request (unique id, client, method, URI,
//     status, sizes, timings, subject) to stdout, which loadbench appends
//     to the row's log file. Like durability process, each line reaches the
//     file (a write per request, no fsync); unlike it, the line is written
//     after the response, and is neither chained nor signed.
var haproxyFull = haproxy("full pipeline: jwt_verify + claims, ACLs, stick-table rate limit, a log line per request; no JSON validation.", `    log stdout format raw local0
    unique-id-format "%{+X}o%ci:%cp_%fi:%fp_%Ts_%rt:%pid"
    log-format "%ID %ci:%cp [%tr] %ft %HM %{+Q}HU %ST %U %B %TR/%Tw/%Tc/%Tr/%Ta %tsc %{+Q}[var(txn.sub)]"
    stick-table type string len 64 size 64k expire 10s store http_req_rate(1s)
    acl viewer var(txn.role) -m str viewer
    acl read method GET HEAD
    acl write method POST
    acl bench_path path /bench
    acl orders_path path `+orderPath+`
`+haproxyVerify+`    http-request set-var(txn.now) date
    http-request deny deny_status 401 unless { var(txn.bearer),jwt_payload_query('$.iss') -m str https://idp.bench }
    http-request deny deny_status 401 unless { var(txn.bearer),jwt_payload_query('$.aud') -m str bench }
    http-request deny deny_status 401 unless { var(txn.bearer),jwt_payload_query('$.exp','int'),sub(txn.now) -m int gt 0 }
    http-request set-var(txn.sub) var(txn.bearer),jwt_payload_query('$.sub')
    http-request set-var(txn.role) var(txn.bearer),jwt_payload_query('$.roles[0]')
    http-request deny deny_status 403 unless viewer read bench_path or viewer write orders_path
    http-request track-sc0 var(txn.sub)
    http-request deny deny_status 429 if { sc_http_req_rate(0) gt 1000000 }
`)

// nginxConfig runs a master and one worker per core, keeps 64 idle
// connections to the upstream, and logs nothing but errors. Its
// connection limits grow with MaxClients in the idle mode.
const nginxConfig = `# nginx, as a plain keep-alive reverse proxy.
worker_processes auto;
daemon off;
master_process on;
pid {{.Dir}}/nginx.pid;
{{if .Root}}user root;
{{end}}{{with .NginxRlimitNofile}}worker_rlimit_nofile {{.}};
{{end}}error_log {{.Dir}}/error.log warn;

events {
    worker_connections {{.NginxWorkerConnections}};
}

http {
    access_log off;
    client_body_temp_path {{.Dir}}/client_body;
    proxy_temp_path {{.Dir}}/proxy;
    fastcgi_temp_path {{.Dir}}/fastcgi;
    uwsgi_temp_path {{.Dir}}/uwsgi;
    scgi_temp_path {{.Dir}}/scgi;

    upstream demo {
        server {{.Upstream}};
        keepalive 64;
    }

    server {
        listen {{.Listen}};
        location / {
            proxy_pass http://demo;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`

// haproxyConfig is HAProxy as a plain keep-alive reverse proxy that logs
// nothing.
var haproxyConfig = haproxy("as a plain keep-alive reverse proxy.", "")

// caddyConfig is native JSON: admin endpoint off, only error logs,
// reverse_proxy with keep-alive to the upstream.
const caddyConfig = `{
  "admin": {"disabled": true},
  "logging": {"logs": {"default": {"level": "ERROR"}}},
  "storage": {"module": "file_system", "root": "{{.Dir}}/data"},
  "apps": {
    "http": {
      "servers": {
        "bench": {
          "listen": ["{{.Listen}}"],
          "automatic_https": {"disable": true},
          "routes": [{
            "handle": [{
              "handler": "reverse_proxy",
              "upstreams": [{"dial": "{{.Upstream}}"}],
              "transport": {
                "protocol": "http",
                "keep_alive": {"enabled": true, "max_idle_conns_per_host": 64}
              }
            }]
          }]
        }
      }
    }
  }
}
`

// renderConfig executes tmpl with e.
func renderConfig(name, tmpl string, e configEnv) (string, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("cannot parse %s config template: %w", name, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, e); err != nil {
		return "", fmt.Errorf("cannot render %s config: %w", name, err)
	}
	return b.String(), nil
}

// selectTargets resolves a --targets list ("" means the default rows). An
// entry is a target's name or a preset's, which stands for its rows; a row
// named twice runs once, where first named.
func selectTargets(list string) ([]target, error) {
	if strings.TrimSpace(list) == "" {
		var out []target
		for _, t := range targets {
			if t.Default {
				out = append(out, t)
			}
		}
		return out, nil
	}
	var out []target
	seen := map[string]bool{}
	for _, entry := range strings.Split(list, ",") {
		entry = strings.TrimSpace(entry)
		names := []string{entry}
		if p, ok := presets[entry]; ok {
			names = p
		}
		for _, name := range names {
			if name == "" || seen[name] {
				continue
			}
			seen[name] = true
			t, ok := findTarget(name)
			if !ok {
				return nil, fmt.Errorf("cannot select target %q: known targets are %s; presets are %s", name, targetNames(), presetNames())
			}
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cannot select targets from %q: empty list", list)
	}
	return out, nil
}

func findTarget(name string) (target, bool) {
	for _, t := range targets {
		if t.Name == name {
			return t, true
		}
	}
	return target{}, false
}

func targetNames() string {
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.Name
	}
	return strings.Join(names, ",")
}

func presetNames() string {
	return strings.Join(slices.Sorted(maps.Keys(presets)), ",")
}

// isRoot reports whether loadbench runs as root.
func isRoot() bool { return os.Geteuid() == 0 }
