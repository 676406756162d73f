package proxy_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/all"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// exactnessConfig has a route for each kind of refusal the proxy gives.
// The {placeholders} are filled by exactEnv.config.
const exactnessConfig = `
log: {level: warn}
admin: {listen: 127.0.0.1:0}
listeners: [{name: public, listen: 127.0.0.1:0, engine: {engine}, header_timeout: 400ms, read_timeout: 400ms, trust_request_id: true}]
limits: {max_in_flight: 3}
upstreams:
  - {name: demo, targets: [{live}], timeout: 1s}
  - {name: dead, targets: [{dead}]}
  - {name: garbage, targets: [{garbage}]}
audit: {dir: {logdir}, signing_key_file: {keyfile}}
filters:
  - id: keys
    name: apikey
    config:
      keys:
        - {id: demo-viewer, subject: vera, roles: [viewer], sha256: 428d2ac3da6ce4eb5cc58762a03af655a5d836bdecd00b0305afc7b2aa81adfd}
        - {id: demo-editor, subject: eddie, roles: [editor], sha256: 5435c4e8c19ef1623c819a90a2b8184da1dbb2dea68aef2984556303003c40ff}
        - {id: tenant, subject: tina, roles: [tenant-user], tenant: acme, sha256: {tenantsha}}
  - id: jwt
    name: jwtauth
    config:
      issuers: [{issuer: "https://idp.test", audiences: [orders-api], jwks_file: {jwks}}]
  - id: jwt-claims
    name: jwtauth
    config:
      issuers: [{issuer: "https://idp.test", audiences: [orders-api], jwks_file: {jwks}}]
      require_claims: {email_verified: true}
  - id: jwt-keyless
    name: jwtauth
    config:
      issuers: [{issuer: "https://idp-down.test", audiences: [orders-api], jwks_url: "https://{dead}/jwks.json"}]
  - id: policy
    name: rbac
    config:
      roles:
        viewer: {allow: [{methods: [GET], paths: ["/api/v1/**"]}]}
        editor: {inherits: [viewer], allow: [{methods: [POST], paths: [/api/v1/orders, /echo/upload]}, {methods: [GET, POST], paths: [/echo/size]}]}
        tenant-user: {allow: [{methods: [GET], paths: ["/echo/tenants/{tenant}"], conditions: {tenant_param: tenant}}]}
  - id: scoped
    name: rbac
    config:
      roles:
        viewer: {allow: [{methods: [GET], paths: [/echo/scoped], scopes: ["orders:write"]}]}
routes:
  - {name: customer, methods: [GET, DELETE], path: "/api/v1/customers/{id}", upstream: demo, filters: [{use: keys}, {use: policy}]}
  - {name: limited, methods: [GET], path: /api/v1/customers, upstream: demo, filters: [{use: keys}, {use: policy}, {name: ratelimit, config: {policies: [{name: once, rate: 1, per: 60s, key: [principal]}]}}]}
  - name: orders
    methods: [POST]
    path: /api/v1/orders
    upstream: demo
    max_body_bytes: 1KiB
    filters: [{use: keys}, {use: policy}, {name: jsonvalidate, config: {max_bytes: 128B, decode: [gzip], schema: {type: object, properties: {qty: {type: integer, maximum: 1000}}}}}]
  - {name: down, methods: [GET], path: /api/v1/down, upstream: dead, filters: [{use: keys}, {use: policy}]}
  - {name: slow, methods: [GET], path: /slow, upstream: demo}
  - {name: queued, host: cc, methods: [GET], path: /slow, upstream: demo, filters: [{name: concurrency, config: {max_concurrent: 1, max_queue: 1, queue_timeout: 400ms}}]}
  - {name: jwt, methods: [GET], path: "/echo/jwt/{id}", upstream: demo, filters: [{use: jwt}, {use: policy}]}
  - {name: jwt-keyless, methods: [GET], path: /echo/jwt-keyless, upstream: demo, filters: [{use: jwt-keyless}, {use: policy}]}
  - {name: introspected, methods: [GET], path: /echo/introspect, upstream: demo, filters: [{name: introspect, config: {endpoint: "{introspect}", client_id: tollgate, client_secret: s3cret, roles_claim: scope}}]}
  - {name: introspect-down, methods: [GET], path: /echo/introspect-down, upstream: demo, filters: [{name: introspect, config: {endpoint: "http://{dead}/introspect", client_id: tollgate, client_secret: s3cret, timeout: 200ms}}]}
  - {name: sized, methods: [GET, POST], path: /echo/size, upstream: demo, filters: [{use: keys}, {use: policy}, {name: sizelimit, config: {max_bytes: 16B, max_query_bytes: 16B}}]}
  - {name: ruled, methods: [GET], path: /echo/ruled, upstream: demo, filters: [{name: jsonvalidate, config: {query: {page: {pattern: "^[0-9]+$"}}, headers: {X-Tenant: {required: true}}}}]}
  - {name: policed, methods: [GET], path: /echo/policed, upstream: demo, filters: [{use: keys}, {use: policy}]}
  - {name: tenants, methods: [GET], path: "/echo/tenants/{tenant}", upstream: demo, filters: [{use: keys}, {use: policy}]}
  - {name: anonymous, methods: [GET], path: /echo/anonymous, upstream: demo, filters: [{use: policy}]}
  - {name: broken, methods: [GET], path: /echo/broken, upstream: demo, filters: [{name: boom}]}
  - {name: upload, methods: [POST], path: /echo/upload, upstream: demo, max_body_bytes: 32KiB, filters: [{use: keys}, {use: policy}]}
  - {name: garbled, methods: [GET], path: /echo/garbled, upstream: garbage}
  - {name: claims, methods: [GET], path: /echo/claims, upstream: demo, filters: [{use: jwt-claims}, {use: policy}]}
  - {name: both, methods: [GET], path: /echo/both, upstream: demo, filters: [{use: jwt}, {use: keys}, {use: policy}]}
  - {name: scoped, methods: [GET], path: /echo/scoped, upstream: demo, filters: [{use: jwt}, {use: scoped}]}
  - name: shared-limit
    methods: [GET]
    path: /echo/shared-limit
    upstream: demo
    filters:
      - use: keys
      - name: ratelimit
        config:
          redis: {addresses: ["{dead}"], dial_timeout: 200ms, timeout: 200ms}
          policies: [{name: cluster, rate: 10, per: 1s, key: [principal], store: redis, on_store_error: deny}]
`

// exactWant is what a request's audit record must say.
type exactWant struct {
	status            int
	reason, principal string
	// hint is the unverified issuer recorded for a refused token.
	hint              string
	method, path, raw string
}

// exactRow is one kind of outcome: raw is sent on a fresh connection and
// its answer names the request; drive, for outcomes that need more than
// one request or a client that misbehaves in time, does the sending and
// returns the request id and the window the request ran in.
type exactRow struct {
	name  string
	raw   string
	drive func(t *testing.T, env *exactEnv) (id string, from, to time.Time)
	want  exactWant
}

const (
	viewer = "X-Api-Key: demo-viewer-key\r\n"
	editor = "X-Api-Key: demo-editor-key\r\n"
	tenant = "X-Api-Key: " + tenantKey + "\r\n"
	asJSON = "Content-Type: application/json\r\n"
)

// exactRows are the outcomes, one row per reason code the proxy can emit
// on a plain-HTTP listener (TestEveryReasonCodeHasARow holds the list to
// every code declared in the tree).
func exactRows(env *exactEnv) []exactRow {
	bearer := func(tok string) string { return "Authorization: Bearer " + tok + "\r\n" }
	get := func(path, fields string) string { return "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + fields + "\r\n" }
	post := func(path, fields, body string) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n%s", path, fields, len(body), body)
	}
	jwtPath := "/echo/jwt/1"
	return []exactRow{
		{name: "allowed", raw: get("/api/v1/customers/1", viewer), want: exactWant{200, "", "vera", "", "GET", "/api/v1/customers/1", ""}},
		{name: "dot segment resolved", raw: get("/api/v1/x/../customers/1", viewer), want: exactWant{200, "", "vera", "", "GET", "/api/v1/customers/1", "/api/v1/x/../customers/1"}},
		{name: "no credential", raw: get("/api/v1/customers/1", ""), want: exactWant{401, "authn.key_missing", "", "", "GET", "/api/v1/customers/1", ""}},
		{name: "unknown key", raw: get("/api/v1/customers/1", "X-Api-Key: nope\r\n"), want: exactWant{401, "authn.key_invalid", "", "", "GET", "/api/v1/customers/1", ""}},
		{name: "method denied", raw: "DELETE /api/v1/customers/1 HTTP/1.1\r\nHost: x\r\n" + viewer + "\r\n", want: exactWant{403, "rbac.method_denied", "vera", "", "DELETE", "/api/v1/customers/1", ""}},
		{name: "path denied", raw: get("/echo/policed", viewer), want: exactWant{403, "rbac.path_denied", "vera", "", "GET", "/echo/policed", ""}},
		{name: "condition failed", raw: get("/echo/tenants/globex", tenant), want: exactWant{403, "rbac.condition_failed", "tina", "", "GET", "/echo/tenants/globex", ""}},
		{name: "no identity for the policy", raw: get("/echo/anonymous", ""), want: exactWant{401, "authn.required", "", "", "GET", "/echo/anonymous", ""}},
		{name: "rate limited (second)", raw: get("/api/v1/customers", viewer), want: exactWant{429, "ratelimit.exceeded", "vera", "", "GET", "/api/v1/customers", ""}},
		{name: "schema", raw: post("/api/v1/orders", asJSON+editor, `{"qty":5000}`), want: exactWant{400, "validate.body_invalid", "eddie", "", "POST", "/api/v1/orders", ""}},
		{name: "malformed JSON", raw: post("/api/v1/orders", asJSON+editor, `{"qty":`), want: exactWant{400, "validate.json_malformed", "eddie", "", "POST", "/api/v1/orders", ""}},
		{name: "415 media type, principal named", raw: post("/api/v1/orders", "Content-Type: text/json\r\n"+editor, `{"qty":5}`), want: exactWant{415, "validate.unsupported_media_type", "eddie", "", "POST", "/api/v1/orders", ""}},
		{name: "415 encoding, principal named", raw: post("/api/v1/orders", asJSON+"Content-Encoding: br\r\n"+editor, `{"qty":5}`), want: exactWant{415, "validate.unsupported_encoding", "eddie", "", "POST", "/api/v1/orders", ""}},
		{name: "over the validation limit", raw: post("/api/v1/orders", asJSON+editor, `{"qty":5`+strings.Repeat(" ", 200)+`}`), want: exactWant{413, "validate.body_too_large", "eddie", "", "POST", "/api/v1/orders", ""}},
		{name: "gzip bomb, principal named", raw: post("/api/v1/orders", asJSON+"Content-Encoding: gzip\r\n"+editor, string(filtertest.Gzip(env.t, []byte(`{"qty":1`+strings.Repeat(" ", 512<<10)+`}`)))), want: exactWant{413, "validate.body_too_large", "eddie", "", "POST", "/api/v1/orders", ""}},
		{name: "413 declared, principal named", raw: post("/api/v1/orders", asJSON+editor, strings.Repeat(" ", 2000)), want: exactWant{413, "request.body_too_large", "eddie", "", "POST", "/api/v1/orders", ""}},
		{name: "413 chunked, principal named", raw: "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" + asJSON + editor + "\r\n7d0\r\n" + strings.Repeat(" ", 2000) + "\r\n0\r\n\r\n", want: exactWant{413, "request.body_too_large", "eddie", "", "POST", "/api/v1/orders", ""}},
		{name: "query rule", raw: get("/echo/ruled?page=x", "X-Tenant: acme\r\n"), want: exactWant{400, "validate.query_invalid", "", "", "GET", "/echo/ruled", ""}},
		{name: "header rule", raw: get("/echo/ruled?page=1", ""), want: exactWant{400, "validate.header_invalid", "", "", "GET", "/echo/ruled", ""}},
		{name: "sizelimit body", raw: post("/echo/size", editor, strings.Repeat("x", 32)), want: exactWant{413, "sizelimit.body_too_large", "eddie", "", "POST", "/echo/size", ""}},
		{name: "sizelimit query", raw: get("/echo/size?q="+strings.Repeat("x", 32), editor), want: exactWant{414, "sizelimit.query_too_long", "eddie", "", "GET", "/echo/size", ""}},
		{name: "no route", raw: get("/nope", ""), want: exactWant{404, "route.not_found", "", "", "GET", "/nope", ""}},
		{name: "method not allowed", raw: "PUT /api/v1/customers/1 HTTP/1.1\r\nHost: x\r\n\r\n", want: exactWant{405, "route.method_not_allowed", "", "", "PUT", "/api/v1/customers/1", ""}},
		{name: "bad path", raw: get("/api/v1/%2e%2e/admin?k=secret", ""), want: exactWant{400, "request.bad_path", "", "", "GET", "", "/api/v1/%2e%2e/admin"}},
		{name: "duplicate credentials", raw: get("/api/v1/customers/1", viewer+editor), want: exactWant{400, "authn.duplicate_credentials", "", "", "GET", "/api/v1/customers/1", ""}},
		{name: "ambiguous framing", raw: "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", want: exactWant{400, "request.ambiguous_framing", "", "", "POST", "", "/api/v1/orders"}},
		{name: "obs-fold", raw: "GET /api/v1/customers/1 HTTP/1.1\r\nHost: x\r\n X-Folded: y\r\n\r\n", want: exactWant{400, "request.malformed", "", "", "GET", "", "/api/v1/customers/1"}},
		{name: "431 header too large", raw: get("/api/v1/customers/1", "X-Big: "+strings.Repeat("a", 20<<10)+"\r\n"), want: exactWant{431, "request.header_too_large", "", "", "GET", "", "/api/v1/customers/1"}},
		{name: "version", raw: "GET /api/v1/customers/1 HTTP/3.0\r\nHost: x\r\n\r\n", want: exactWant{505, "request.version_not_supported", "", "", "GET", "", "/api/v1/customers/1"}},
		{name: "upstream down", raw: get("/api/v1/down", viewer), want: exactWant{502, "upstream.unavailable", "vera", "", "GET", "/api/v1/down", ""}},
		{name: "allowed, slower than read_timeout", raw: get("/slow?delay=600ms", ""), want: exactWant{200, "", "", "", "GET", "/slow", ""}},
		{name: "upstream timeout", raw: get("/slow?delay=2s", ""), want: exactWant{504, "upstream.timeout", "", "", "GET", "/slow", ""}},
		{name: "upstream garbage", raw: get("/echo/garbled", ""), want: exactWant{502, "upstream.bad_response", "", "", "GET", "/echo/garbled", ""}},
		{name: "500 filter panic", raw: get("/echo/broken", ""), want: exactWant{500, "proxy.internal_error", "", "", "GET", "/echo/broken", ""}},

		// Tokens: every refusal names the issuer it claimed, unverified.
		{name: "token missing", raw: get(jwtPath, ""), want: exactWant{401, "authn.token_missing", "", "", "GET", jwtPath, ""}},
		{name: "token malformed", raw: get(jwtPath, bearer("not-a-jwt")), want: exactWant{401, "authn.token_malformed", "", "", "GET", jwtPath, ""}},
		{name: "token expired", raw: get(jwtPath, bearer(env.kit.token(env.t, tokenClaims("https://idp.test", "orders-api", -time.Hour, 0)))), want: exactWant{401, "authn.token_expired", "", "https://idp.test", "GET", jwtPath, ""}},
		{name: "token not yet valid", raw: get(jwtPath, bearer(env.kit.token(env.t, tokenClaims("https://idp.test", "orders-api", time.Hour, time.Hour)))), want: exactWant{401, "authn.token_not_yet_valid", "", "https://idp.test", "GET", jwtPath, ""}},
		{name: "token forged", raw: get(jwtPath, bearer(env.forger.token(env.t, tokenClaims("https://idp.test", "orders-api", time.Hour, 0)))), want: exactWant{401, "authn.bad_signature", "", "https://idp.test", "GET", jwtPath, ""}},
		{name: "token from an unknown kid", raw: get(jwtPath, bearer(env.stranger.token(env.t, tokenClaims("https://idp.test", "orders-api", time.Hour, 0)))), want: exactWant{401, "authn.unknown_key", "", "https://idp.test", "GET", jwtPath, ""}},
		{name: "token for another audience", raw: get(jwtPath, bearer(env.kit.token(env.t, tokenClaims("https://idp.test", "billing", time.Hour, 0)))), want: exactWant{401, "authn.wrong_audience", "", "https://idp.test", "GET", jwtPath, ""}},
		{name: "token from another issuer", raw: get(jwtPath, bearer(env.kit.token(env.t, tokenClaims("https://evil.test", "orders-api", time.Hour, 0)))), want: exactWant{401, "authn.wrong_issuer", "", "https://evil.test", "GET", jwtPath, ""}},
		{name: "token alg none", raw: get(jwtPath, bearer(unsignedToken(map[string]any{"alg": "none", "kid": "k1"}))), want: exactWant{401, "authn.alg_not_allowed", "", "https://idp.test", "GET", jwtPath, ""}},
		{name: "token with crit", raw: get(jwtPath, bearer(unsignedToken(map[string]any{"alg": "RS256", "kid": "k1", "crit": []string{"exp"}}))), want: exactWant{401, "authn.header_not_allowed", "", "https://idp.test", "GET", jwtPath, ""}},
		{name: "issuer's keys unavailable", raw: get("/echo/jwt-keyless", bearer(env.kit.token(env.t, tokenClaims("https://idp-down.test", "orders-api", time.Hour, 0)))), want: exactWant{503, "authn.keys_unavailable", "", "https://idp-down.test", "GET", "/echo/jwt-keyless", ""}},
		{name: "token lacks a required claim", raw: get("/echo/claims", bearer(env.kit.token(env.t, tokenClaims("https://idp.test", "orders-api", time.Hour, 0)))), want: exactWant{401, "authn.claim_required", "", "https://idp.test", "GET", "/echo/claims", ""}},
		{name: "token and key name different principals", raw: get("/echo/both", bearer(env.kit.token(env.t, tokenClaims("https://idp.test", "orders-api", time.Hour, 0)))+viewer), want: exactWant{400, "authn.conflicting_credentials", "", "", "GET", "/echo/both", ""}},
		{name: "token lacks the rule's scope", raw: get("/echo/scoped", bearer(env.kit.token(env.t, tokenClaims("https://idp.test", "orders-api", time.Hour, 0)))), want: exactWant{403, "rbac.scope_missing", "jo", "", "GET", "/echo/scoped", ""}},
		{name: "shared rate-limit store down, fail mode deny", raw: get("/echo/shared-limit", viewer), want: exactWant{503, "ratelimit.store_unavailable", "vera", "", "GET", "/echo/shared-limit", ""}},
		{name: "introspection: inactive", raw: get("/echo/introspect", bearer("revoked-token")), want: exactWant{401, "authn.token_inactive", "", "", "GET", "/echo/introspect", ""}},
		{name: "introspection: active", raw: get("/echo/introspect", bearer("live-token")), want: exactWant{200, "", "ivan", "", "GET", "/echo/introspect", ""}},
		{name: "introspection server down", raw: get("/echo/introspect-down", bearer("live-token")), want: exactWant{503, "authn.introspection_unavailable", "", "", "GET", "/echo/introspect-down", ""}},

		// Outcomes that need time or company.
		{name: "408 header timeout (slowloris), its request line recorded", drive: driveSlowloris, want: exactWant{408, "request.timeout", "", "", "GET", "", "/api/v1/customers/1"}},
		{name: "408 body timeout, principal named", drive: driveSlowBody, want: exactWant{408, "request.timeout", "eddie", "", "POST", "/echo/upload", ""}},
		// fasthttp reads up to 8 KiB of a body before it hands the request
		// over; a body that stalls within them is still recorded with the
		// head it came with.
		{name: "408 body timeout in fasthttp's read-ahead", drive: driveSlowSmallBody, want: exactWant{408, "request.timeout", "eddie", "", "POST", "/api/v1/orders", ""}},
		{name: "499 client went away", drive: driveAbort, want: exactWant{499, "client.aborted", "", "", "GET", "/slow", ""}},
		{name: "503 concurrency queue full", drive: driveQueueFull, want: exactWant{503, "throttle.queue_full", "", "", "GET", "/slow", ""}},
		{name: "503 concurrency queue timeout", drive: driveQueueTimeout, want: exactWant{503, "throttle.queue_timeout", "", "", "GET", "/slow", ""}},
		{name: "503 shed (max_in_flight)", drive: driveShed, want: exactWant{503, "proxy.overloaded", "", "", "GET", "", "/api/v1/customers/1"}},
	}
}

// TestEveryRecordSaysWhatHappened drives one request per kind of outcome
// through each engine and checks its audit record against what the client
// saw: method, path, raw target where the client sent something else,
// status, reason, principal (or none, for a refusal before identity; the
// unverified issuer for a refused token), and a start and duration inside
// the request's own window.
func TestEveryRecordSaysWhatHappened(t *testing.T) {
	reg := append(all.Registry(), filters.Registration{Name: "boom", New: func(filters.Spec) (filters.Filter, error) { return boom{}, nil }})
	for _, engine := range []string{"fasthttp", "gnet"} {
		t.Run(engine, func(t *testing.T) {
			env := newExactEnv(t, engine)
			p := startProxyWith(t, env.config(), reg)
			env.addr, env.p = p.addr, p
			// The rate limit admits one request per minute: spend it.
			if status, _ := e2etest.RawRequest(t, p.addr, "GET /api/v1/customers HTTP/1.1\r\nHost: x\r\n"+viewer+"\r\n"); status != 200 {
				t.Fatalf("first limited request: %d", status)
			}
			type sent struct {
				name     string
				want     exactWant
				from, to time.Time
			}
			rows := exactRows(env)
			byID := map[string]sent{}
			for _, c := range rows {
				var id string
				var from, to time.Time
				if c.drive != nil {
					id, from, to = c.drive(t, env)
				} else {
					from = time.Now()
					status, text := e2etest.RawRequest(t, p.addr, c.raw)
					to = time.Now()
					if status != c.want.status {
						t.Fatalf("%s: status %d, want %d\n%s", c.name, status, c.want.status, text)
					}
					id = responseFromText(t, text, status).Header.Get("X-Request-Id")
				}
				if id == "" {
					t.Fatalf("%s: no X-Request-Id", c.name)
				}
				byID[id] = sent{c.name, c.want, from, to}
			}
			seen := map[string]bool{}
			checkRecord := func(rec *auditlog.Record) error {
				s, ok := byID[string(rec.RequestID)]
				if !ok {
					return nil // the spent rate-limit request, the drives' company
				}
				seen[string(rec.RequestID)] = true
				w := s.want
				principal, hint := "", ""
				if rec.HasPrincipal && rec.Revealed && !rec.Unverified {
					principal = string(rec.Principal)
				}
				if rec.Unverified {
					hint = string(rec.HintIssuer)
				}
				at := time.Unix(0, rec.Start)
				switch {
				case int(rec.Status) != w.status || string(rec.Reason) != w.reason:
					return fmt.Errorf("%s: record %d %q, want %d %q", s.name, rec.Status, rec.Reason, w.status, w.reason)
				case principal != w.principal || hint != w.hint:
					return fmt.Errorf("%s: principal %q hint %q, want %q %q", s.name, principal, hint, w.principal, w.hint)
				case string(rec.Method) != w.method || string(rec.Path) != w.path || string(rec.RawTarget()) != w.raw:
					return fmt.Errorf("%s: %q path %q raw %q, want %q %q %q", s.name, rec.Method, rec.Path, rec.RawTarget(), w.method, w.path, w.raw)
				case at.Before(s.from) || at.After(s.to) || rec.Duration < 0 || time.Duration(rec.Duration) > s.to.Sub(s.from):
					return fmt.Errorf("%s: start %v duration %v outside %v..%v", s.name, at, time.Duration(rec.Duration), s.from, s.to)
				}
				return nil
			}
			var wrong []error
			shutdownAndScan(t, p, env.logDir, func(rec *auditlog.Record) error {
				if err := checkRecord(rec); err != nil {
					wrong = append(wrong, err)
				}
				return nil
			})
			for _, err := range wrong {
				t.Error(err)
			}
			for id, s := range byID {
				if !seen[id] {
					t.Errorf("%s (%s): not recorded", s.name, id)
				}
			}
		})
	}
}
