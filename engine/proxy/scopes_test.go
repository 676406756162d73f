package proxy_test

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

// scopesConfig puts the rbac filter's scope rules behind every way a
// scope reaches an identity: a JWT's scope or scp claim (/echo/orders/jwt/),
// an introspection answer (/echo/orders/opaque/), and the same JWT rules with
// the filters defined the other way round (/echo/orders/rbacfirst/: the rbac
// filter, which interns orders:write, is built before jwtauth) or inline
// on the route (/echo/orders/inline/: jwtauth built first).
const scopesConfig = `
log: {level: warn}
admin: {listen: 127.0.0.1:0}
listeners: [{name: public, listen: 127.0.0.1:0}]
upstreams: [{name: demo, targets: [%[1]s]}]
audit: {dir: %[2]s, signing_key_file: %[3]s, checkpoint_interval: 50ms}
filters:
  - id: jwt
    name: jwtauth
    config:
      issuers: [{issuer: https://idp.test, audiences: [orders-api], jwks_file: %[4]s}]
  - id: opaque
    name: introspect
    config:
      endpoint: %[5]s
      client_id: tollgate
      client_secret: s3cret
      roles_claim: roles
  - id: policy
    name: rbac
    config:
      roles:
        clerk:
          allow:
            - {methods: [POST], paths: ["/echo/orders/**"], scopes: [orders:write]}
            - {methods: [GET], paths: ["/echo/orders/**"]}
      allow:
        - {methods: [DELETE], paths: ["/echo/orders/**"], scopes: [orders:write, orders:delete]}
  - id: policy2
    name: rbac
    config:
      roles: {clerk: {allow: [{methods: [POST], paths: ["/echo/orders/**"], scopes: [orders:write]}]}}
  - id: jwt2
    name: jwtauth
    config:
      issuers: [{issuer: https://idp.test, audiences: [orders-api], jwks_file: %[4]s}]
routes:
  - {name: jwt, path: "/echo/orders/jwt/{x}", upstream: demo, filters: [{use: jwt}, {use: policy}]}
  - {name: opaque, path: "/echo/orders/opaque/{x}", upstream: demo, filters: [{use: opaque}, {use: policy}]}
  - {name: rbacfirst, path: "/echo/orders/rbacfirst/{x}", upstream: demo, filters: [{use: jwt2}, {use: policy2}]}
  - name: inline
    path: "/echo/orders/inline/{x}"
    upstream: demo
    filters:
      - {name: jwtauth, config: {issuers: [{issuer: https://idp.test, audiences: [orders-api], jwks_file: %[4]s}]}}
      - {name: rbac, config: {roles: {clerk: {allow: [{methods: [POST], paths: ["/echo/orders/**"], scopes: [orders:write]}]}}}}
`

// startIntrospection serves RFC 7662 answers on a loopback listener: each
// known opaque token is active for vera, with the clerk role and the given
// scope string; any other token is inactive.
func startIntrospection(t *testing.T, scopes map[string]string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, secret, ok := r.BasicAuth(); !ok || id != "tollgate" || secret != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		scope, ok := scopes[r.PostFormValue("token")]
		if !ok {
			fmt.Fprint(w, `{"active":false}`)
			return
		}
		fmt.Fprintf(w, `{"active":true,"sub":"vera","roles":["clerk"],"scope":%q,"exp":%d}`, scope, time.Now().Add(time.Hour).Unix())
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/introspect"
}

// TestScopesEndToEnd runs the scope rules end to end on both engines: a
// scope from a JWT's scope or scp claim or from an introspection answer
// grants a permission that requires it; no scope, or one that only looks
// like it, is refused with 403 rbac.scope_missing before the upstream sees
// anything, whichever order the filters were defined in; every request is
// recorded with its principal and reason.
func TestScopesEndToEnd(t *testing.T) {
	eachEngine(t, scopesEndToEnd)
}

func scopesEndToEnd(t *testing.T, engine string) {
	up := e2etest.StartUpstream(t)
	dir := t.TempDir()
	kit, jwksFile := newJWTKit(t, dir)
	keyFile, logDir, _ := auditSetup(t, dir, "tollgate.test/scopes")
	idp := startIntrospection(t, map[string]string{
		"opaque-write":   "orders:write orders:read",
		"opaque-read":    "orders:read",
		"opaque-similar": "orders:writer ORDERS:WRITE",
	})
	p := startProxy(t, onEngine(t, fmt.Sprintf(scopesConfig, up.Addr, logDir, keyFile, jwksFile, idp), engine))

	tok := func(extra ...any) map[string]string {
		c := claims("vera", []string{"clerk"}, time.Hour)
		for i := 0; i+1 < len(extra); i += 2 {
			c[extra[i].(string)] = extra[i+1]
		}
		return map[string]string{"Authorization": "Bearer " + kit.token(t, c)}
	}
	opaque := func(s string) map[string]string { return map[string]string{"Authorization": "Bearer " + s} }
	unroled := func(scope string) map[string]string {
		c := withClaims(claims("vera", nil, time.Hour), map[string]any{"roles": nil, "scope": scope})
		return map[string]string{"Authorization": "Bearer " + kit.token(t, c)}
	}

	type row struct {
		name, method, path string
		hdr                map[string]string
		status             int
		reason             string
		method2            string // the audit record's auth method
	}
	rows := []row{
		{"scope claim", "POST", "/echo/orders/jwt/1", tok("scope", "orders:write orders:read"), 200, "", "jwt"},
		{"scp claim", "POST", "/echo/orders/jwt/1", tok("scp", []string{"orders:read", "orders:write"}), 200, "", "jwt"},
		{"scope claim as a list", "POST", "/echo/orders/jwt/1", tok("scope", []string{"orders:write"}), 200, "", "jwt"},
		{"no scope", "POST", "/echo/orders/jwt/1", tok(), 403, "rbac.scope_missing", "jwt"},
		{"other scope", "POST", "/echo/orders/jwt/1", tok("scope", "orders:read"), 403, "rbac.scope_missing", "jwt"},
		{"similar scope", "POST", "/echo/orders/jwt/1", tok("scope", "orders:writer"), 403, "rbac.scope_missing", "jwt"},
		{"upper-case scope", "POST", "/echo/orders/jwt/1", tok("scope", "ORDERS:WRITE"), 403, "rbac.scope_missing", "jwt"},
		{"similar scp", "POST", "/echo/orders/jwt/1", tok("scp", []string{"orders:writer", "orders:writ"}), 403, "rbac.scope_missing", "jwt"},
		{"scope is not a role", "POST", "/echo/orders/jwt/1", tok("roles", []string{"clerk", "orders:write"}), 403, "rbac.scope_missing", "jwt"},
		{"permission without scopes", "GET", "/echo/orders/jwt/1", tok(), 200, "", "jwt"},
		{"scope-only allow", "DELETE", "/echo/orders/jwt/1", unroled("orders:write orders:delete"), 200, "", "jwt"},
		{"scope-only allow, one scope short", "DELETE", "/echo/orders/jwt/1", unroled("orders:write"), 403, "rbac.scope_missing", "jwt"},
		{"introspected scope", "POST", "/echo/orders/opaque/1", opaque("opaque-write"), 200, "", "introspection"},
		{"introspected, other scope", "POST", "/echo/orders/opaque/1", opaque("opaque-read"), 403, "rbac.scope_missing", "introspection"},
		{"introspected, similar scopes", "POST", "/echo/orders/opaque/1", opaque("opaque-similar"), 403, "rbac.scope_missing", "introspection"},
		{"rbac defined first", "POST", "/echo/orders/rbacfirst/1", tok("scope", "orders:write"), 200, "", "jwt"},
		{"rbac defined first, no scope", "POST", "/echo/orders/rbacfirst/1", tok("scope", "orders:writer"), 403, "rbac.scope_missing", "jwt"},
		{"inline, jwtauth built first", "POST", "/echo/orders/inline/1", tok("scp", []string{"orders:write"}), 200, "", "jwt"},
		{"inline, no scope", "POST", "/echo/orders/inline/1", tok(), 403, "rbac.scope_missing", "jwt"},
	}
	ids := map[string]row{}
	for _, r := range rows {
		before := up.Requests()
		resp := e2etest.Do(t, r.method, p.base+r.path, r.hdr, "")
		statusOK, passed := checkAnswer(t, r.name, resp, r.status, r.reason, "", up.Requests()-before)
		if statusOK {
			ids[resp.Header.Get("X-Request-Id")] = r
		}
		if !passed {
			continue
		}
		e := e2etest.DecodeEcho(t, resp)
		if e.Method != r.method || e.Path != r.path {
			t.Errorf("%s: the upstream received %s %s", r.name, e.Method, e.Path)
		}
		if got := e.Header("X-Auth-Subject"); got != "vera" {
			t.Errorf("%s: the upstream got X-Auth-Subject %q, want vera", r.name, got)
		}
		if got := e.Header("Authorization"); got != "" {
			t.Errorf("%s: the upstream got the client's token %.24q", r.name, got)
		}
	}

	seen := 0
	shutdownAndScan(t, p, logDir, func(rec *auditlog.Record) error {
		r, ok := ids[string(rec.RequestID)]
		if !ok {
			return nil
		}
		seen++
		if int(rec.Status) != r.status || string(rec.Reason) != r.reason {
			return fmt.Errorf("%s: recorded %d %q, want %d %q", r.name, rec.Status, rec.Reason, r.status, r.reason)
		}
		// A missing scope is the principal's fault, not an anonymous
		// request's: the record names who was refused.
		if string(rec.Principal) != "vera" || rec.Unverified || string(rec.AuthMethod) != r.method2 {
			return fmt.Errorf("%s: recorded as %q by %q (unverified %v)", r.name, rec.Principal, rec.AuthMethod, rec.Unverified)
		}
		return nil
	})
	if seen != len(ids) {
		t.Fatalf("%d of %d requests recorded", seen, len(ids))
	}
}
