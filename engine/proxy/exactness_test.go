package proxy_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

// exactnessConfig has a route for each kind of refusal the proxy gives;
// %[1]s is the live upstream, %[2]s a dead one, %[3]s the log dir, %[4]s
// the key file.
const exactnessConfig = `
log: {level: warn}
admin: {listen: 127.0.0.1:0}
listeners: [{name: public, listen: 127.0.0.1:0}]
upstreams:
  - {name: demo, targets: [%[1]s], timeout: 300ms}
  - {name: dead, targets: [%[2]s]}
audit: {dir: %[3]s, signing_key_file: %[4]s}
filters:
  - id: keys
    name: apikey
    config:
      keys:
        - {id: demo-viewer, subject: vera, roles: [viewer], sha256: 428d2ac3da6ce4eb5cc58762a03af655a5d836bdecd00b0305afc7b2aa81adfd}
        - {id: demo-editor, subject: eddie, roles: [editor], sha256: 5435c4e8c19ef1623c819a90a2b8184da1dbb2dea68aef2984556303003c40ff}
  - id: policy
    name: rbac
    config:
      roles:
        viewer: {allow: [{methods: [GET], paths: ["/api/v1/**"]}]}
        editor: {inherits: [viewer], allow: [{methods: [POST], paths: [/api/v1/orders]}]}
routes:
  - {name: customer, methods: [GET, DELETE], path: "/api/v1/customers/{id}", upstream: demo, filters: [{use: keys}, {use: policy}]}
  - {name: limited, methods: [GET], path: /api/v1/customers, upstream: demo, filters: [{use: keys}, {use: policy}, {name: ratelimit, config: {policies: [{name: once, rate: 1, per: 60s, key: [principal]}]}}]}
  - name: orders
    methods: [POST]
    path: /api/v1/orders
    upstream: demo
    max_body_bytes: 1KiB
    filters: [{use: keys}, {use: policy}, {name: jsonvalidate, config: {schema: {type: object, properties: {qty: {type: integer, maximum: 1000}}}}}]
  - {name: down, methods: [GET], path: /api/v1/down, upstream: dead, filters: [{use: keys}, {use: policy}]}
  - {name: slow, methods: [GET], path: /slow, upstream: demo}
`

// TestEveryRecordSaysWhatHappened drives one request per kind of outcome
// through each engine and checks its audit record against what the client
// saw: method, path, raw target where the client sent something else,
// status, reason, principal (or none, for a refusal before identity), and
// a start and duration inside the request's own window.
func TestEveryRecordSaysWhatHappened(t *testing.T) {
	const (
		viewer = "X-Api-Key: demo-viewer-key\r\n"
		editor = "X-Api-Key: demo-editor-key\r\n"
	)
	type want struct {
		status            int
		reason, principal string
		method, path, raw string
	}
	cases := []struct {
		name, raw string
		want      want
	}{
		{"allowed", "GET /api/v1/customers/1 HTTP/1.1\r\nHost: x\r\n" + viewer + "\r\n", want{200, "", "vera", "GET", "/api/v1/customers/1", ""}},
		{"dot segment resolved", "GET /api/v1/x/../customers/1 HTTP/1.1\r\nHost: x\r\n" + viewer + "\r\n", want{200, "", "vera", "GET", "/api/v1/customers/1", "/api/v1/x/../customers/1"}},
		{"no credential", "GET /api/v1/customers/1 HTTP/1.1\r\nHost: x\r\n\r\n", want{401, "authn.key_missing", "", "GET", "/api/v1/customers/1", ""}},
		{"unknown key", "GET /api/v1/customers/1 HTTP/1.1\r\nHost: x\r\nX-Api-Key: nope\r\n\r\n", want{401, "authn.key_invalid", "", "GET", "/api/v1/customers/1", ""}},
		{"method denied", "DELETE /api/v1/customers/1 HTTP/1.1\r\nHost: x\r\n" + viewer + "\r\n", want{403, "rbac.method_denied", "vera", "DELETE", "/api/v1/customers/1", ""}},
		{"rate limited (second)", "GET /api/v1/customers HTTP/1.1\r\nHost: x\r\n" + viewer + "\r\n", want{429, "ratelimit.exceeded", "vera", "GET", "/api/v1/customers", ""}},
		{"schema", "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 12\r\n" + editor + "\r\n{\"qty\":5000}", want{400, "validate.body_invalid", "eddie", "POST", "/api/v1/orders", ""}},
		{"body too large", "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2000\r\n" + editor + "\r\n" + strings.Repeat(" ", 2000), want{413, "request.body_too_large", "eddie", "POST", "/api/v1/orders", ""}},
		{"no route", "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", want{404, "route.not_found", "", "GET", "/nope", ""}},
		{"method not allowed", "PUT /api/v1/customers/1 HTTP/1.1\r\nHost: x\r\n\r\n", want{405, "route.method_not_allowed", "", "PUT", "/api/v1/customers/1", ""}},
		{"bad path", "GET /api/v1/%2e%2e/admin?k=secret HTTP/1.1\r\nHost: x\r\n\r\n", want{400, "request.bad_path", "", "GET", "", "/api/v1/%2e%2e/admin"}},
		{"duplicate credentials", "GET /api/v1/customers/1 HTTP/1.1\r\nHost: x\r\n" + viewer + editor + "\r\n", want{400, "authn.duplicate_credentials", "", "GET", "/api/v1/customers/1", ""}},
		{"ambiguous framing", "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", want{400, "request.ambiguous_framing", "", "POST", "", "/api/v1/orders"}},
		{"version", "GET /api/v1/customers/1 HTTP/3.0\r\nHost: x\r\n\r\n", want{505, "request.version_not_supported", "", "GET", "", "/api/v1/customers/1"}},
		{"upstream down", "GET /api/v1/down HTTP/1.1\r\nHost: x\r\n" + viewer + "\r\n", want{502, "upstream.unavailable", "vera", "GET", "/api/v1/down", ""}},
		{"upstream timeout", "GET /slow?delay=2s HTTP/1.1\r\nHost: x\r\n\r\n", want{504, "upstream.timeout", "", "GET", "/slow", ""}},
	}
	for _, engine := range []string{"fasthttp", "gnet"} {
		t.Run(engine, func(t *testing.T) {
			up := e2etest.StartUpstream(t)
			keyFile, logDir, _ := auditSetup(t, t.TempDir(), "tollgate.test/exactness")
			p := startProxy(t, onEngine(t, fmt.Sprintf(exactnessConfig, up.Addr, e2etest.DeadAddr(t), logDir, keyFile), engine))
			// The rate limit admits one request per minute: spend it.
			if status, _ := e2etest.RawRequest(t, p.addr, "GET /api/v1/customers HTTP/1.1\r\nHost: x\r\n"+viewer+"\r\n"); status != 200 {
				t.Fatalf("first limited request: %d", status)
			}
			type sent struct {
				want     want
				from, to time.Time
			}
			byID := map[string]sent{}
			for _, c := range cases {
				from := time.Now()
				status, text := e2etest.RawRequest(t, p.addr, c.raw)
				to := time.Now()
				r := responseFromText(t, text, status)
				if status != c.want.status {
					t.Fatalf("%s: status %d, want %d\n%s", c.name, status, c.want.status, text)
				}
				id := r.Header.Get("X-Request-Id")
				if id == "" {
					t.Fatalf("%s: no X-Request-Id", c.name)
				}
				byID[id] = sent{c.want, from, to}
			}
			seen := 0
			shutdownAndScan(t, p, logDir, func(rec *auditlog.Record) error {
				s, ok := byID[string(rec.RequestID)]
				if !ok {
					return nil // the spent rate-limit request
				}
				seen++
				w := s.want
				principal := ""
				if rec.HasPrincipal && rec.Revealed {
					principal = string(rec.Principal)
				}
				at := time.Unix(0, rec.Start)
				switch {
				case int(rec.Status) != w.status || string(rec.Reason) != w.reason:
					return fmt.Errorf("%s: record %d %q, want %d %q", rec.RequestID, rec.Status, rec.Reason, w.status, w.reason)
				case principal != w.principal:
					return fmt.Errorf("%s (%s): principal %q, want %q", rec.RequestID, w.reason, principal, w.principal)
				case string(rec.Method) != w.method || string(rec.Path) != w.path || string(rec.RawTarget()) != w.raw:
					return fmt.Errorf("%s (%s): %s path %q raw %q, want %s %q %q", rec.RequestID, w.reason, rec.Method, rec.Path, rec.RawTarget(), w.method, w.path, w.raw)
				case at.Before(s.from) || at.After(s.to) || rec.Duration < 0 || time.Duration(rec.Duration) > s.to.Sub(s.from):
					return fmt.Errorf("%s (%s): start %v duration %v outside %v..%v", rec.RequestID, w.reason, at, time.Duration(rec.Duration), s.from, s.to)
				}
				return nil
			})
			if seen != len(cases) {
				t.Fatalf("%d of %d requests recorded", seen, len(cases))
			}
		})
	}
}
