package proxy_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

// identityHeadersConfig: two authentication filters on one route, in
// either order — an API key with a JWT or with an introspected token.
// The API key forwards its tenant only under a name of its own
// (X-Key-Tenant), which the token filters do not forward; the optional
// client certificate after them forwards its principal in
// X-Client-Principal (a plain listener: no request has a certificate).
const identityHeadersConfig = `
log: {level: warn}
admin: {listen: 127.0.0.1:0}
listeners: [{name: public, listen: 127.0.0.1:0}]
upstreams: [{name: demo, targets: [%[1]s]}]
filters:
  - id: jwt
    name: jwtauth
    config:
      optional: true
      issuers:
        - {issuer: https://idp.test, audiences: [orders-api], jwks_file: %[2]s, tenant_claim: tenant}
  - id: keys
    name: apikey
    config:
      optional: true
      forward: {tenant_header: X-Key-Tenant}
      keys:
        - {id: vera-key, sha256: "%[3]s", subject: vera, tenant: acme, roles: [editor]}
  - id: opaque
    name: introspect
    config:
      optional: true
      endpoint: %[4]s
      client_id: tollgate
      client_secret: s3cret
  - id: certs
    name: mtlsauth
    config:
      optional: true
      subject_header: x-client-principal
      identities: [{common_name: svc, principal: svc}]
  - id: required-keys
    name: apikey
    config:
      forward: {tenant_header: X-Key-Tenant}
      keys:
        - {id: vera-key, sha256: "%[3]s", subject: vera, tenant: acme, roles: [editor]}
routes:
  - {name: keyfirst, path: "/echo/keyfirst/{x}", upstream: demo, filters: [{use: keys}, {use: jwt}]}
  - {name: jwtfirst, path: "/echo/jwtfirst/{x}", upstream: demo, filters: [{use: jwt}, {use: keys}, {use: certs}]}
  - {name: keyopaque, path: "/echo/keyopaque/{x}", upstream: demo, filters: [{use: keys}, {use: opaque}]}
  - {name: opaquekey, path: "/echo/opaquekey/{x}", upstream: demo, filters: [{use: opaque}, {use: keys}]}
  - {name: required, path: "/echo/required/{x}", upstream: demo, filters: [{use: jwt}, {use: required-keys}]}
`

// TestIdentityHeadersStrippedOnce checks, on both engines, that the
// identity headers an authentication filter forwards reach the upstream
// whatever filter runs after it, and that no client-sent copy of a
// header any filter of the route forwards ever does: authenticated,
// anonymous or refused.
func TestIdentityHeadersStrippedOnce(t *testing.T) {
	for _, engine := range []string{"fasthttp", "gnet"} {
		t.Run(engine, func(t *testing.T) { identityHeadersStrippedOnce(t, engine) })
	}
}

func identityHeadersStrippedOnce(t *testing.T, engine string) {
	up := e2etest.StartUpstream(t)
	dir := t.TempDir()
	kit, jwksFile := newJWTKit(t, dir)
	const veraKey = "tg_test_vera_0b7c9d2e4f61"
	sum := sha256.Sum256([]byte(veraKey))
	idp := startIntrospection(t, map[string]string{"opaque-vera": "orders:read"})
	p := startProxy(t, onEngine(t, fmt.Sprintf(identityHeadersConfig, up.Addr, jwksFile, hex.EncodeToString(sum[:]), idp), engine))

	now := time.Now()
	token := "Bearer " + kit.token(t, map[string]any{"iss": "https://idp.test", "aud": "orders-api", "sub": "vera",
		"tenant": "acme", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	forged := map[string]string{"X-Auth-Subject": "root", "X-Auth-Roles": "admin", "X-Auth-Tenant": "globex", "X-Key-Tenant": "globex", "X-Client-Principal": "svc"}
	plus := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}

	rows := []struct {
		name, path string
		hdr        map[string]string
		status     int
		reason     string
		upstream   map[string]string // headers the upstream must get ("" = absent)
	}{
		{"key, then optional jwt without a token", "/echo/keyfirst/1", map[string]string{"X-API-Key": veraKey}, 200, "",
			map[string]string{"X-Auth-Subject": "vera", "X-Auth-Roles": "editor", "X-Key-Tenant": "acme", "X-Auth-Tenant": "", "X-Api-Key": ""}},
		{"jwt, then optional key without a key", "/echo/jwtfirst/1", map[string]string{"Authorization": token}, 200, "",
			map[string]string{"X-Auth-Subject": "vera", "X-Auth-Tenant": "acme", "X-Key-Tenant": "", "Authorization": ""}},
		{"forged headers, key then jwt", "/echo/keyfirst/1", plus(forged, "X-API-Key", veraKey), 200, "",
			map[string]string{"X-Auth-Subject": "vera", "X-Auth-Roles": "editor", "X-Key-Tenant": "acme", "X-Auth-Tenant": ""}},
		{"forged headers, jwt then key", "/echo/jwtfirst/1", plus(forged, "Authorization", token), 200, "",
			map[string]string{"X-Auth-Subject": "vera", "X-Auth-Tenant": "acme", "X-Auth-Roles": "", "X-Key-Tenant": "", "X-Client-Principal": ""}},
		{"key, then optional introspection without a token", "/echo/keyopaque/1", map[string]string{"X-API-Key": veraKey}, 200, "",
			map[string]string{"X-Auth-Subject": "vera", "X-Auth-Roles": "editor", "X-Key-Tenant": "acme"}},
		// No filter of this route forwards X-Client-Principal: only a
		// route's own identity headers are deleted.
		{"forged headers, introspected then key", "/echo/opaquekey/1", plus(forged, "Authorization", "Bearer opaque-vera"), 200, "",
			map[string]string{"X-Auth-Subject": "vera", "X-Auth-Roles": "", "X-Auth-Tenant": "", "X-Key-Tenant": "", "X-Client-Principal": "svc"}},
		{"forged headers, anonymous, introspection then key", "/echo/opaquekey/1", forged, 200, "",
			map[string]string{"X-Auth-Subject": "", "X-Auth-Roles": "", "X-Auth-Tenant": "", "X-Key-Tenant": ""}},
		{"forged headers, anonymous, key then jwt", "/echo/keyfirst/1", forged, 200, "",
			map[string]string{"X-Auth-Subject": "", "X-Auth-Roles": "", "X-Auth-Tenant": "", "X-Key-Tenant": ""}},
		{"forged headers, anonymous, jwt then key", "/echo/jwtfirst/1", forged, 200, "",
			map[string]string{"X-Auth-Subject": "", "X-Auth-Roles": "", "X-Auth-Tenant": "", "X-Key-Tenant": "", "X-Client-Principal": ""}},
		{"forged headers, refused", "/echo/required/1", forged, 401, "authn.key_missing", nil},
		{"forged headers, bad key", "/echo/keyfirst/1", plus(forged, "X-API-Key", "tg_wrong"), 401, "authn.key_invalid", nil},
	}
	for _, r := range rows {
		before := up.Requests()
		resp := e2etest.Do(t, "GET", p.base+r.path, r.hdr, "")
		if resp.Status != r.status {
			t.Errorf("%s: status %d, want %d: %s", r.name, resp.Status, r.status, resp.Body)
			continue
		}
		if r.reason != "" {
			e2etest.AssertProblem(t, resp, r.status, r.reason)
			if n := up.Requests() - before; n != 0 {
				t.Errorf("%s: refused, but the upstream received %d requests", r.name, n)
			}
			continue
		}
		if n := up.Requests() - before; n != 1 {
			t.Errorf("%s: the upstream received %d requests, want 1", r.name, n)
		}
		e := e2etest.DecodeEcho(t, resp)
		for h, want := range r.upstream {
			if got := e.Header(h); got != want {
				t.Errorf("%s: the upstream got %s %q, want %q", r.name, h, got, want)
			}
		}
	}
}
