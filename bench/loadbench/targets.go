package main

import (
	"fmt"
	"os"
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
	// Prepare, if set, writes the row's key material into its directory
	// before the config is rendered, and adds to what wrk sends.
	Prepare func(dir string, req *request) error
}

// targets is the table of known rows, in display order. Add a Tollgate row
// by adding an entry with its own Config and Request.
var targets = []target{
	{Name: "direct", Kind: kindDirect, Default: true},
	{Name: "tollgate", Kind: kindTollgate, Config: tollgatePlain, Default: true},
	{Name: "tollgate-gnet", Kind: kindTollgate, Config: strings.Replace(tollgatePlain, "    listen: {{.Listen}}\n", "    listen: {{.Listen}}\n    engine: gnet\n", 1), Default: true},
	{Name: "tollgate-jwt-rbac", Kind: kindTollgate, Config: tollgateJWTRBAC, Prepare: prepareJWT, Default: true},
	{Name: "tollgate-jwt-rbac-nocache", Kind: kindTollgate, Config: tollgateJWTRBACNoCache, Prepare: prepareJWTs(2000), Default: true},
	{Name: "haproxy-jwt", Kind: kindHAProxy, Config: haproxyJWT, Prepare: prepareJWTs(2000), Default: true},
	{Name: "tollgate-apikey-rbac", Kind: kindTollgate, Config: tollgateAPIKeyRBAC, Prepare: prepareAPIKey, Default: true},
	{Name: "tollgate-audit-process", Kind: kindTollgate, Config: tollgateAudit("process"), Prepare: prepareAudit, Default: true},
	{Name: "tollgate-audit-disk", Kind: kindTollgate, Config: tollgateAudit("disk"), Prepare: prepareAudit},
	{Name: "tollgate-audit-async", Kind: kindTollgate, Config: tollgateAudit("async"), Prepare: prepareAudit},
	{Name: "tollgate-gnet-audit-process", Kind: kindTollgate, Config: strings.Replace(tollgateAudit("process"), `listen: "{{.Listen}}"}]`, `listen: "{{.Listen}}", engine: gnet}]`, 1), Prepare: prepareAudit},
	{Name: "nginx", Kind: kindNginx, Default: true},
	{Name: "haproxy", Kind: kindHAProxy, Default: true},
	{Name: "caddy", Kind: kindCaddy, Default: true},
}

// configEnv is what config templates are executed with.
type configEnv struct {
	Dir      string // the target's own temporary directory
	Listen   string // 127.0.0.1:PORT the target listens on
	Admin    string // 127.0.0.1:PORT for an admin listener, if any
	Upstream string // 127.0.0.1:PORT of the demo upstream
	Root     bool   // running as root (nginx needs "user root")
}

// tollgatePlain is one route, GET /bench, to the demo upstream, with no
// filters: the proxy's bare forwarding cost.
const tollgatePlain = `# Tollgate, no filters: GET /bench forwarded to the demo upstream.
log:
  level: warn
  format: text
admin:
  listen: {{.Admin}}
listeners:
  - name: bench
    listen: {{.Listen}}
upstreams:
  - name: demo
    targets: ["{{.Upstream}}"]
    max_connections: 256
routes:
  - name: bench
    methods: [GET]
    path: /bench
    upstream: demo
`

// tollgateRBAC is the policy the identity rows check after authentication.
const tollgateRBAC = `  - id: policy
    name: rbac
    config:
      roles:
        viewer: {allow: [{methods: [GET], paths: ["/bench"]}]}
`

// tollgateJWTRBAC verifies an RS256 bearer token (the same token every
// request: the verified-token cache answers) and checks RBAC.
const tollgateJWTRBAC = `# Tollgate, JWT + RBAC on GET /bench.
log: {level: warn}
admin: {listen: "{{.Admin}}"}
listeners: [{name: bench, listen: "{{.Listen}}"}]
upstreams: [{name: demo, targets: ["{{.Upstream}}"], max_connections: 256}]
filters:
  - id: jwt
    name: jwtauth
    config:
      issuers: [{issuer: "https://idp.bench", audiences: [bench], jwks_file: "{{.Dir}}/jwks.json"}]
` + tollgateRBAC + `routes:
  - {name: bench, methods: [GET], path: /bench, upstream: demo, filters: [{use: jwt}, {use: policy}]}
`

// tollgateJWTRBACNoCache is tollgateJWTRBAC with the verified-token cache
// off, so every request pays for its signature check, as HAProxy's
// jwt_verify does.
var tollgateJWTRBACNoCache = strings.Replace(tollgateJWTRBAC,
	`jwks_file: "{{.Dir}}/jwks.json"}]`, `jwks_file: "{{.Dir}}/jwks.json"}]
      cache: {max_entries: 0}`, 1)

// haproxyJWT verifies the bearer token with jwt_verify on every request
// and denies when it fails, then forwards like haproxyConfig.
const haproxyJWT = `# HAProxy, jwt_verify (RS256) on every request, then keep-alive proxying.
global
    nbthread 2
    maxconn 4096

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    http-reuse always

frontend bench
    bind {{.Listen}}
    http-request set-var(txn.bearer) http_auth_bearer
    http-request deny unless { var(txn.bearer),jwt_verify("RS256","{{.Dir}}/jwt-pub.pem") -m int 1 }
    default_backend demo

backend demo
    server up {{.Upstream}}
`

// tollgateAPIKeyRBAC authenticates an API key (a SHA-256 per request) and
// checks RBAC.
var tollgateAPIKeyRBAC = `# Tollgate, API key + RBAC on GET /bench.
log: {level: warn}
admin: {listen: "{{.Admin}}"}
listeners: [{name: bench, listen: "{{.Listen}}"}]
upstreams: [{name: demo, targets: ["{{.Upstream}}"], max_connections: 256}]
filters:
  - id: keys
    name: apikey
    config:
      keys: [{id: bench, subject: bench-user, roles: [viewer], sha256: "` + apiKeyHash() + `"}]
` + tollgateRBAC + `routes:
  - {name: bench, methods: [GET], path: /bench, upstream: demo, filters: [{use: keys}, {use: policy}]}
`

// tollgateAudit is the plain row with the audit log on, in one durability
// mode.
func tollgateAudit(durability string) string {
	return `# Tollgate, plain forwarding with the audit log in ` + durability + ` mode.
log: {level: warn}
admin: {listen: "{{.Admin}}"}
listeners: [{name: bench, listen: "{{.Listen}}"}]
upstreams: [{name: demo, targets: ["{{.Upstream}}"], max_connections: 256}]
audit: {dir: "{{.Dir}}/audit", signing_key_file: "{{.Dir}}/audit.key", durability: ` + durability + `}
routes:
  - {name: bench, methods: [GET], path: /bench, upstream: demo}
`
}

// nginxConfig runs a master and one worker per core, keeps 64 idle
// connections to the upstream, and logs nothing but errors.
const nginxConfig = `# nginx, as a plain keep-alive reverse proxy.
worker_processes auto;
daemon off;
master_process on;
pid {{.Dir}}/nginx.pid;
{{if .Root}}user root;
{{end}}error_log {{.Dir}}/error.log warn;

events {
    worker_connections 4096;
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

// haproxyConfig runs two threads, reuses server connections always, and
// logs nothing.
const haproxyConfig = `# HAProxy, as a plain keep-alive reverse proxy.
global
    nbthread 2
    maxconn 4096

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    http-reuse always

frontend bench
    bind {{.Listen}}
    default_backend demo

backend demo
    server up {{.Upstream}}
`

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

// selectTargets resolves a --targets list ("" means the default rows).
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
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		found := false
		for _, t := range targets {
			if t.Name == name {
				out = append(out, t)
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("cannot select target %q: known targets are %s", name, targetNames())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cannot select targets from %q: empty list", list)
	}
	return out, nil
}

func targetNames() string {
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.Name
	}
	return strings.Join(names, ",")
}

// isRoot reports whether loadbench runs as root.
func isRoot() bool { return os.Geteuid() == 0 }
