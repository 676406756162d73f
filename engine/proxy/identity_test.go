package proxy_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

const identityConfig = `
log: {level: warn}
admin: {listen: 127.0.0.1:0}
listeners: [{name: public, listen: 127.0.0.1:0}]
upstreams: [{name: demo, targets: [%[1]s]}]
audit: {dir: %[2]s, signing_key_file: %[3]s, checkpoint_interval: 50ms}
filters:
  - id: corp-jwt
    name: jwtauth
    config:
      optional: true
      issuers:
        - issuer: https://idp.test
          audiences: [orders-api]
          jwks_file: %[4]s
  - id: keys
    name: apikey
    config:
      optional: true
      keys:
        - {id: ci-bot, sha256: "%[5]s", subject: ci-bot, roles: [editor]}
  - id: policy
    name: rbac
    config:
      roles:
        viewer: {allow: [{methods: [GET], paths: ["/api/v1/**"]}]}
        editor: {inherits: [viewer], allow: [{methods: [POST, PUT, PATCH], paths: ["/api/v1/**"]}]}
        admin: {inherits: [editor], allow: [{methods: ["*"], paths: ["/**"]}]}
routes:
  - name: customers
    path: "/api/v1/customers/{id}"
    upstream: demo
    filters: [{use: corp-jwt}, {use: keys}, {use: policy}]
  - name: orders
    methods: [POST]
    path: /api/v1/orders
    upstream: demo
    filters: [{use: corp-jwt}, {use: keys}, {use: policy}]
  - name: admin-stats
    methods: [GET]
    path: /admin/stats
    upstream: demo
    filters: [{use: corp-jwt}, {use: keys}, {use: policy}]
`

type jwtKit struct {
	key *rsa.PrivateKey
	kid string
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (k *jwtKit) jwks() []byte {
	e := big.NewInt(int64(k.key.E)).Bytes()
	out, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": k.kid, "alg": "RS256", "use": "sig",
		"n": b64(k.key.N.Bytes()), "e": b64(e),
	}}})
	return out
}

func (k *jwtKit) token(t *testing.T, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": k.kid})
	c, _ := json.Marshal(claims)
	signing := b64(h) + "." + b64(c)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + b64(sig)
}

// newJWTKit makes an RSA signing key and writes its JWK Set into dir.
func newJWTKit(t *testing.T, dir string) (*jwtKit, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	kit := &jwtKit{key: key, kid: "k1"}
	jwksFile := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksFile, kit.jwks(), 0o600); err != nil {
		t.Fatal(err)
	}
	return kit, jwksFile
}

func claims(sub string, roles []string, exp time.Duration) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": "https://idp.test", "aud": "orders-api", "sub": sub, "roles": roles,
		"iat": now.Unix(), "exp": now.Add(exp).Unix(),
	}
}

func TestIdentityRBACAndAudit(t *testing.T) {
	for _, engine := range []string{"fasthttp", "gnet"} {
		t.Run(engine, func(t *testing.T) { identityRBACAndAudit(t, engine) })
	}
}

func identityRBACAndAudit(t *testing.T, engine string) {
	up := e2etest.StartUpstream(t)
	dir := t.TempDir()
	kit, jwksFile := newJWTKit(t, dir)
	keyFile, logDir, vkey := auditSetup(t, dir, "tollgate.test/identity")
	const apiKey = "tg_test_2f9d0c7e41b84a5d"
	sum := sha256.Sum256([]byte(apiKey))
	p := startProxy(t, onEngine(t, fmt.Sprintf(identityConfig, up.Addr, logDir, keyFile, jwksFile, hex.EncodeToString(sum[:])), engine))

	viewer := "Bearer " + kit.token(t, claims("vera", []string{"viewer"}, time.Hour))
	editor := "Bearer " + kit.token(t, claims("eddie", []string{"editor"}, time.Hour))
	admin := "Bearer " + kit.token(t, claims("ada", []string{"admin"}, time.Hour))
	expired := "Bearer " + kit.token(t, claims("old", []string{"admin"}, -time.Hour))
	forged := admin[:len(admin)-8] + "AAAAAAAA"

	type row struct {
		name, method, path, authz, apikey string
		status                            int
		reason                            string
	}
	rows := []row{
		{"anonymous GET", "GET", "/api/v1/customers/1", "", "", 401, "authn.required"},
		{"viewer GET", "GET", "/api/v1/customers/1", viewer, "", 200, ""},
		{"viewer DELETE", "DELETE", "/api/v1/customers/1", viewer, "", 403, "rbac.method_denied"},
		{"viewer POST", "POST", "/api/v1/orders", viewer, "", 403, "rbac.method_denied"},
		{"viewer admin", "GET", "/admin/stats", viewer, "", 403, "rbac.path_denied"},
		{"editor POST", "POST", "/api/v1/orders", editor, "", 201, ""},
		{"editor DELETE", "DELETE", "/api/v1/customers/2", editor, "", 403, "rbac.method_denied"},
		{"admin DELETE", "DELETE", "/api/v1/customers/2", admin, "", 204, ""},
		{"admin stats", "GET", "/admin/stats", admin, "", 200, ""},
		{"expired", "GET", "/api/v1/customers/1", expired, "", 401, "authn.token_expired"},
		{"forged", "GET", "/api/v1/customers/1", forged, "", 401, "authn.bad_signature"},
		{"alg none", "GET", "/api/v1/customers/1", "Bearer " + b64([]byte(`{"alg":"none"}`)) + "." + b64([]byte(`{"sub":"x"}`)) + ".", "", 401, "authn.alg_not_allowed"},
		{"api key POST", "POST", "/api/v1/orders", "", apiKey, 201, ""},
		{"wrong api key", "GET", "/api/v1/customers/1", "", "tg_wrong", 401, "authn.key_invalid"},
	}
	before := up.Requests()
	forwarded := uint64(0)
	ids := map[string]row{}
	for _, r := range rows {
		h := map[string]string{"Content-Type": "application/json"}
		if r.authz != "" {
			h["Authorization"] = r.authz
		}
		if r.apikey != "" {
			h["X-API-Key"] = r.apikey
		}
		body := ""
		if r.method == "POST" {
			body = `{"customer":"1","sku":"tea","qty":1}`
		}
		resp := e2etest.Do(t, r.method, p.base+r.path, h, body)
		if resp.Status != r.status {
			t.Errorf("%s: status %d, want %d: %s", r.name, resp.Status, r.status, resp.Body)
			continue
		}
		if r.reason != "" {
			e2etest.AssertProblem(t, resp, r.status, r.reason)
			if r.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: 401 without WWW-Authenticate", r.name)
			}
		} else {
			forwarded++
		}
		ids[resp.Header.Get("X-Request-Id")] = r
	}
	if n := up.Requests() - before; n != forwarded {
		t.Fatalf("upstream saw %d requests, want only the %d allowed ones", n, forwarded)
	}

	shutdownAndScan(t, p, logDir, func(rec *auditlog.Record) error {
		r, ok := ids[string(rec.RequestID)]
		if !ok {
			return fmt.Errorf("unexpected record %s", rec.RequestID)
		}
		delete(ids, string(rec.RequestID))
		if int(rec.Status) != r.status || string(rec.Reason) != r.reason {
			return fmt.Errorf("%s: record status %d reason %q", r.name, rec.Status, rec.Reason)
		}
		switch r.name {
		case "editor POST":
			if string(rec.Principal) != "eddie" || string(rec.AuthMethod) != "jwt" || string(rec.Roles) != "editor" || rec.Unverified {
				return fmt.Errorf("editor record: principal %q method %q roles %q", rec.Principal, rec.AuthMethod, rec.Roles)
			}
		case "api key POST":
			if string(rec.Principal) != "ci-bot" || string(rec.AuthMethod) != "api_key" {
				return fmt.Errorf("api key record: principal %q method %q", rec.Principal, rec.AuthMethod)
			}
		case "forged":
			if !rec.Unverified || string(rec.HintIssuer) != "https://idp.test" || string(rec.HintKeyID) != "k1" ||
				!strings.HasPrefix(string(rec.HintSubjectHash), "sha256:") || len(rec.Principal) != 0 {
				return fmt.Errorf("forged record lacks unverified hints: %+v", rec)
			}
		case "wrong api key":
			if !rec.Unverified || len(rec.HintKeyFP) == 0 || strings.Contains(string(rec.HintKeyFP), "tg_wrong") {
				return fmt.Errorf("wrong-key record: fingerprint %q", rec.HintKeyFP)
			}
		}
		return nil
	})
	if len(ids) != 0 {
		t.Fatalf("%d requests missing from the audit log: %v", len(ids), ids)
	}
	if _, err := auditlog.Verify(auditlog.VerifyOptions{Dir: logDir, VerifierKey: vkey}); err != nil {
		t.Fatalf("verify: %v", err)
	}
}

// TestDuplicateCredentialsAreRefused: a request that carries a credential
// header twice (two bearer tokens, two API keys) is refused with 400 before
// any filter runs, attributed to no one, and never reaches the upstream,
// on both engines. Which of two credentials a filter reads, and which an
// upstream behind it would, is what an attacker wants to choose.
func TestDuplicateCredentialsAreRefused(t *testing.T) {
	for _, engine := range []string{"fasthttp", "gnet"} {
		t.Run(engine, func(t *testing.T) {
			up := e2etest.StartUpstream(t)
			dir := t.TempDir()
			kit, jwksFile := newJWTKit(t, dir)
			keyFile, logDir, _ := auditSetup(t, dir, "tollgate.test/duplicates")
			const apiKey = "tg_test_2f9d0c7e41b84a5d"
			sum := sha256.Sum256([]byte(apiKey))
			p := startProxy(t, onEngine(t, fmt.Sprintf(identityConfig, up.Addr, logDir, keyFile, jwksFile, hex.EncodeToString(sum[:])), engine))
			admin := "Bearer " + kit.token(t, claims("ada", []string{"admin"}, time.Hour))
			viewer := "Bearer " + kit.token(t, claims("vera", []string{"viewer"}, time.Hour))

			before := up.Requests()
			for name, raw := range map[string]string{
				"two bearer tokens": "DELETE /api/v1/customers/1 HTTP/1.1\r\nHost: x\r\nAuthorization: " + viewer + "\r\nAuthorization: " + admin + "\r\n\r\n",
				"two API keys":      "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nX-Api-Key: " + apiKey + "\r\nx-api-key: other\r\nContent-Length: 2\r\n\r\n{}",
			} {
				status, text := e2etest.RawRequest(t, p.addr, raw)
				if status != 400 || !strings.Contains(text, "authn.duplicate_credentials") {
					t.Errorf("%s: %d\n%s", name, status, text)
				}
			}
			if n := up.Requests() - before; n != 0 {
				t.Fatalf("the upstream received %d requests with duplicate credentials", n)
			}
			// One credential of each kind is fine.
			status, _ := e2etest.RawRequest(t, p.addr, "GET /api/v1/customers/1 HTTP/1.1\r\nHost: x\r\nAuthorization: "+viewer+"\r\n\r\n")
			if status != 200 {
				t.Fatalf("one bearer token: %d", status)
			}
			n := 0
			shutdownAndScan(t, p, logDir, func(rec *auditlog.Record) error {
				if string(rec.Reason) == "authn.duplicate_credentials" {
					n++
					if rec.HasPrincipal || rec.Unverified {
						return fmt.Errorf("a duplicate-credential refusal is attributed: %+v", rec)
					}
				}
				return nil
			})
			if n != 2 {
				t.Fatalf("%d duplicate-credential refusals recorded, want 2", n)
			}
		})
	}
}

// TestNotFoundChainHidesRoutesFromAnonymousClients: with a not_found chain,
// an anonymous client gets 401 for a path or method no route serves,
// exactly as for one that exists, so it cannot map the routes; an
// authenticated one gets the 404 or 405, recorded with its principal. On
// both engines.
func TestNotFoundChainHidesRoutesFromAnonymousClients(t *testing.T) {
	const cfg = `
log: {level: warn}
admin: {listen: 127.0.0.1:0}
listeners: [{name: public, listen: 127.0.0.1:0}]
upstreams: [{name: demo, targets: [%[1]s]}]
audit: {dir: %[2]s, signing_key_file: %[3]s}
filters:
  - id: keys
    name: apikey
    config:
      keys: [{id: v, subject: vera, roles: [viewer], sha256: 428d2ac3da6ce4eb5cc58762a03af655a5d836bdecd00b0305afc7b2aa81adfd}]
not_found:
  filters: [{use: keys}]
routes:
  - {name: customer, methods: [GET], path: "/api/v1/customers/{id}", upstream: demo, filters: [{use: keys}]}
`
	for _, engine := range []string{"fasthttp", "gnet"} {
		t.Run(engine, func(t *testing.T) {
			up := e2etest.StartUpstream(t)
			keyFile, logDir, _ := auditSetup(t, t.TempDir(), "tollgate.test/notfound")
			p := startProxy(t, onEngine(t, fmt.Sprintf(cfg, up.Addr, logDir, keyFile), engine))
			key := map[string]string{"X-API-Key": "demo-viewer-key"}
			before := up.Requests()
			e2etest.AssertProblem(t, e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", nil, ""), 401, "authn.key_missing")
			e2etest.AssertProblem(t, e2etest.Do(t, "GET", p.base+"/admin/secret", nil, ""), 401, "authn.key_missing")
			e2etest.AssertProblem(t, e2etest.Do(t, "PUT", p.base+"/api/v1/customers/1", nil, ""), 401, "authn.key_missing")
			e2etest.AssertProblem(t, e2etest.Do(t, "GET", p.base+"/admin/secret", key, ""), 404, "route.not_found")
			r := e2etest.Do(t, "PUT", p.base+"/api/v1/customers/1", key, "")
			e2etest.AssertProblem(t, r, 405, "route.method_not_allowed")
			if r.Header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			status, text := e2etest.RawRequest(t, p.addr, "GET /admin/secret HTTP/1.1\r\nHost: x\r\nX-Api-Key: demo-viewer-key\r\nX-Api-Key: other\r\n\r\n")
			if status != 400 || !strings.Contains(text, "authn.duplicate_credentials") {
				t.Errorf("two keys on an unmatched path: %d\n%s", status, text)
			}
			if n := up.Requests() - before; n != 0 {
				t.Fatalf("the upstream received %d requests", n)
			}
			principals := map[int]int{}
			shutdownAndScan(t, p, logDir, func(rec *auditlog.Record) error {
				if rec.Status == 404 || rec.Status == 405 {
					if !rec.Revealed || string(rec.Principal) != "vera" {
						return fmt.Errorf("a %d is not recorded with its principal", rec.Status)
					}
					principals[int(rec.Status)]++
				}
				return nil
			})
			if principals[404] != 1 || principals[405] != 1 {
				t.Fatalf("recorded 404/405 with a principal: %v", principals)
			}
		})
	}
}

// TestVerifiedTokensAreNotForwarded: once a bearer token is verified, the
// header that carried it is removed before the request goes upstream, on
// both engines; a route whose filter sets forward.credential keeps it.
func TestVerifiedTokensAreNotForwarded(t *testing.T) {
	const cfg = `
log: {level: warn}
admin: {listen: 127.0.0.1:0}
listeners: [{name: public, listen: 127.0.0.1:0}]
upstreams: [{name: demo, targets: [%[1]s]}]
routes:
  - name: stripped
    path: "/echo/stripped"
    upstream: demo
    filters: [{name: jwtauth, config: {issuers: [{issuer: "https://idp.test", audiences: [orders-api], jwks_file: %[2]q}]}}]
  - name: kept
    path: "/echo/kept"
    upstream: demo
    filters: [{name: jwtauth, config: {forward: {credential: true}, issuers: [{issuer: "https://idp.test", audiences: [orders-api], jwks_file: %[2]q}]}}]
`
	for _, engine := range []string{"fasthttp", "gnet"} {
		t.Run(engine, func(t *testing.T) {
			up := e2etest.StartUpstream(t)
			dir := t.TempDir()
			kit, jwksFile := newJWTKit(t, dir)
			p := startProxy(t, onEngine(t, fmt.Sprintf(cfg, up.Addr, jwksFile), engine))
			authz := map[string]string{"Authorization": "Bearer " + kit.token(t, claims("vera", []string{"viewer"}, time.Hour))}
			e := e2etest.DecodeEcho(t, e2etest.Do(t, "GET", p.base+"/echo/stripped", authz, ""))
			if got := e.Header("Authorization"); got != "" {
				t.Errorf("the upstream received the client's token: %.20s…", got)
			}
			if got := e.Header("X-Auth-Subject"); got != "vera" {
				t.Errorf("X-Auth-Subject = %q, want the verified subject", got)
			}
			e = e2etest.DecodeEcho(t, e2etest.Do(t, "GET", p.base+"/echo/kept", authz, ""))
			if got := e.Header("Authorization"); got != authz["Authorization"] {
				t.Errorf("forward.credential: the upstream got %.20s…, want the token", got)
			}
		})
	}
}

// TestIdentityBeforeTheBody: identity and policy run on the head, before
// the body is read. An anonymous client announcing a large body gets 401
// at once, having sent only its first 8 KiB (fasthttp, under the goroutine
// engine, reads that much ahead before any handler runs; the event loop
// reads none of it); an authenticated one gets 413, recorded with its
// principal. On both engines.
func TestIdentityBeforeTheBody(t *testing.T) {
	for _, engine := range []string{"fasthttp", "gnet"} {
		t.Run(engine, func(t *testing.T) {
			up := e2etest.StartUpstream(t)
			dir := t.TempDir()
			kit, jwksFile := newJWTKit(t, dir)
			keyFile, logDir, _ := auditSetup(t, dir, "tollgate.test/body")
			sum := sha256.Sum256([]byte("unused"))
			cfg := strings.Replace(fmt.Sprintf(identityConfig, up.Addr, logDir, keyFile, jwksFile, hex.EncodeToString(sum[:])),
				"    path: /api/v1/orders\n", "    path: /api/v1/orders\n    max_body_bytes: 1KiB\n", 1)
			p := startProxy(t, onEngine(t, cfg, engine))
			editor := "Bearer " + kit.token(t, claims("eddie", []string{"editor"}, time.Hour))
			const head = "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500000\r\n"
			for _, c := range []struct {
				authz  string
				status int
				reason string
			}{
				{"", 401, "authn.required"},
				{"Authorization: " + editor + "\r\n", 413, "request.body_too_large"},
			} {
				start := time.Now()
				status, text := e2etest.RawRequest(t, p.addr, head+c.authz+"\r\n"+strings.Repeat("x", 8<<10)) // the rest is never sent
				if status != c.status || !strings.Contains(text, c.reason) || time.Since(start) > time.Second {
					t.Fatalf("%d after %v, want %d %s at once\n%s", status, time.Since(start), c.status, c.reason, text)
				}
			}
			found := false
			shutdownAndScan(t, p, logDir, func(rec *auditlog.Record) error {
				if rec.Status == 413 {
					found = true
					if !rec.Revealed || string(rec.Principal) != "eddie" {
						return fmt.Errorf("the 413 is not recorded with its principal: %q", rec.Principal)
					}
				}
				return nil
			})
			if !found {
				t.Fatal("no 413 recorded")
			}
		})
	}
}
