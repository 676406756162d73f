package proxy_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/all"
)

// credentialsConfig: an optional JWT then an optional API key on /echo/,
// the same plus a scope check on /scoped/, the key before the JWT on
// /keyfirst/, a second-factor key on /second/, a key kept for the
// upstream on /keep/.
const credentialsConfig = `
log: {level: warn}
admin: {listen: 127.0.0.1:0}
listeners: [{name: public, listen: 127.0.0.1:0}]
upstreams: [{name: demo, targets: [%[1]s]}]
audit: {dir: %[2]s, signing_key_file: %[3]s, checkpoint_interval: 50ms}
filters:
  - id: jwt
    name: jwtauth
    config:
      optional: true
      iat_leeway: 5s
      require_claims: {email_verified: true}
      issuers:
        - {issuer: https://idp.test, audiences: [orders-api], jwks_file: %[4]s, tenant_claim: tenant}
  - id: keys
    name: apikey
    config:
      optional: true
      keys:
        - {id: vera-key, sha256: "%[5]s", subject: vera, tenant: acme}
        - {id: ci-bot, sha256: "%[6]s", subject: ci-bot}
routes:
  - {name: echo, path: "/echo/plain/{x}", upstream: demo, filters: [{use: jwt}, {use: keys}]}
  - {name: scoped, path: "/echo/scoped/{x}", upstream: demo, filters: [{use: jwt}, {use: keys}, {name: scopeprobe}]}
  - name: second
    path: "/echo/second/{x}"
    upstream: demo
    filters:
      - {use: jwt}
      - {name: apikey, config: {second_factor: true, keys: [{id: ci-bot, sha256: "%[6]s", subject: ci-bot}]}}
  - {name: keyfirst, path: "/echo/keyfirst/{x}", upstream: demo, filters: [{use: keys}, {use: jwt}]}
  - name: keep
    path: "/echo/keep/{x}"
    upstream: demo
    filters: [{name: apikey, config: {forward: {credential: true}, keys: [{id: ci-bot, sha256: "%[6]s", subject: ci-bot}]}}]
`

// scopeProbe stands in for an authorization rule on a scope: built after
// jwtauth (so the scope is interned after the authentication filter
// exists), it refuses a request whose identity lacks orders:write.
type scopeProbe struct{ bit int }

var reasonScopeMissing = filters.NewReason("test.scope_missing", 403, filters.DecisionDenied, "the orders:write scope is required")

func (p *scopeProbe) Name() string { return "scopeprobe" }

func (p *scopeProbe) Handle(ex *filters.Exchange) filters.Verdict {
	if !ex.Identity.Verified || !ex.Identity.Scopes.Has(p.bit) {
		return filters.Respond(reasonScopeMissing)
	}
	return filters.Continue
}

func newScopeProbe(spec filters.Spec) (filters.Filter, error) {
	bit, err := spec.Scopes.Intern("orders:write")
	return &scopeProbe{bit: bit}, err
}

// TestCredentialHardening runs every credential rule end to end on both
// engines, checking what the client got and what the upstream received
// (or that it received nothing), and how each request is recorded.
func TestCredentialHardening(t *testing.T) {
	eachEngine(t, credentialHardening)
}

func credentialHardening(t *testing.T, engine string) {
	up := e2etest.StartUpstream(t)
	dir := t.TempDir()
	kit, jwksFile := newJWTKit(t, dir)
	keyFile, logDir, _ := auditSetup(t, dir, "tollgate.test/credentials")
	const veraKey, ciKey = "tg_test_vera_6a1f0e9d8c7b", "tg_test_ci_5e4d3c2b1a09"
	hash := func(k string) string { s := sha256.Sum256([]byte(k)); return hex.EncodeToString(s[:]) }
	reg := append(all.Registry(), filters.Registration{Name: "scopeprobe", New: newScopeProbe})
	p := startProxyWith(t, onEngine(t, fmt.Sprintf(credentialsConfig, up.Addr, logDir, keyFile, jwksFile, hash(veraKey), hash(ciKey)), engine), reg)

	now := time.Now()
	tok := func(over map[string]any) string {
		c := withClaims(claims("vera", nil, time.Hour), map[string]any{"roles": nil, "tenant": "acme", "email_verified": true})
		return "Bearer " + kit.token(t, withClaims(c, over))
	}
	vera := tok(nil)

	type row struct {
		name, path string
		hdr        map[string]string
		status     int
		reason     string
		detail     string            // in the problem body
		upstream   map[string]string // headers the upstream must get ("" = absent)
	}
	gone := map[string]string{"Authorization": "", "X-Api-Key": ""}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	rows := []row{
		{"token without sub", "/echo/plain/1", map[string]string{"Authorization": tok(map[string]any{"sub": nil})}, 401, "authn.token_malformed", "sub claim is required", nil},
		{"required claim missing", "/echo/plain/1", map[string]string{"Authorization": tok(map[string]any{"email_verified": nil})}, 401, "authn.claim_required", `claim \"email_verified\" is required`, nil},
		{"required claim false", "/echo/plain/1", map[string]string{"Authorization": tok(map[string]any{"email_verified": false})}, 401, "authn.claim_required", `claim \"email_verified\" does not hold a required value`, nil},
		{"iat in the future", "/echo/plain/1", map[string]string{"Authorization": tok(map[string]any{"iat": now.Add(time.Minute).Unix()})}, 401, "authn.token_not_yet_valid", "iat is in the future", nil},
		{"token with the scope", "/echo/scoped/1", map[string]string{"Authorization": tok(map[string]any{"scope": "orders:read orders:write"})}, 200, "", "", with(gone, "X-Auth-Subject", "vera", "X-Auth-Tenant", "acme")},
		{"token with the scope in scp", "/echo/scoped/1", map[string]string{"Authorization": tok(map[string]any{"scp": []string{"orders:write"}})}, 200, "", "", with(gone, "X-Auth-Subject", "vera")},
		{"token without the scope", "/echo/scoped/1", map[string]string{"Authorization": tok(map[string]any{"scope": "orders:read"})}, 403, "test.scope_missing", "", nil},
		{"api key has no scopes", "/echo/scoped/1", map[string]string{"X-API-Key": veraKey}, 403, "test.scope_missing", "", nil},
		{"token and key disagree", "/echo/plain/1", map[string]string{"Authorization": vera, "X-API-Key": ciKey}, 400, "authn.conflicting_credentials", "", nil},
		{"token and key disagree on tenant", "/echo/plain/1", map[string]string{"Authorization": tok(map[string]any{"tenant": "globex"}), "X-API-Key": veraKey}, 400, "authn.conflicting_credentials", "", nil},
		{"key first, token disagrees", "/echo/keyfirst/1", map[string]string{"Authorization": vera, "X-API-Key": ciKey}, 400, "authn.conflicting_credentials", "", nil},
		{"key first, token agrees", "/echo/keyfirst/1", map[string]string{"Authorization": vera, "X-API-Key": veraKey}, 200, "", "", with(gone, "X-Auth-Subject", "vera", "X-Auth-Tenant", "acme")},
		{"token and bad key", "/echo/plain/1", map[string]string{"Authorization": vera, "X-API-Key": "tg_wrong"}, 401, "authn.key_invalid", "", nil},
		{"token and key agree", "/echo/plain/1", map[string]string{"Authorization": vera, "X-API-Key": veraKey}, 200, "", "", with(gone, "X-Auth-Subject", "vera", "X-Auth-Tenant", "acme")},
		{"key as a second factor", "/echo/second/1", map[string]string{"Authorization": vera, "X-API-Key": ciKey}, 200, "", "", with(gone, "X-Auth-Subject", "vera")},
		{"api key alone", "/echo/plain/1", map[string]string{"X-API-Key": ciKey}, 200, "", "", with(gone, "X-Auth-Subject", "ci-bot")},
		{"api key in Authorization", "/echo/plain/1", map[string]string{"Authorization": "ApiKey " + ciKey}, 200, "", "", with(gone, "X-Auth-Subject", "ci-bot")},
		{"invalid key, optional route", "/echo/plain/1", map[string]string{"X-API-Key": "tg_wrong"}, 401, "authn.key_invalid", "", nil},
		{"anonymous", "/echo/plain/1", map[string]string{"X-Auth-Subject": "forged"}, 200, "", "", with(gone, "X-Auth-Subject", "")},
		{"forward.credential keeps the key", "/echo/keep/1", map[string]string{"X-API-Key": ciKey}, 200, "", "", map[string]string{"X-Api-Key": ciKey, "X-Auth-Subject": "ci-bot"}},
	}
	ids := map[string]string{}
	for _, r := range rows {
		before := up.Requests()
		resp := e2etest.Do(t, "GET", p.base+r.path, r.hdr, "")
		statusOK, passed := checkAnswer(t, r.name, resp, r.status, r.reason, r.detail, up.Requests()-before)
		if statusOK {
			ids[resp.Header.Get("X-Request-Id")] = r.name
		}
		if !passed {
			continue
		}
		e := e2etest.DecodeEcho(t, resp)
		for h, want := range r.upstream {
			if got := e.Header(h); got != want {
				t.Errorf("%s: the upstream got %s %.24q, want %q", r.name, h, got, want)
			}
		}
	}

	conflicts := 0
	shutdownAndScan(t, p, logDir, func(rec *auditlog.Record) error {
		name, ok := ids[string(rec.RequestID)]
		if !ok {
			return nil
		}
		switch {
		case string(rec.Reason) == "authn.conflicting_credentials":
			conflicts++
			if rec.HasPrincipal || len(rec.Principal) != 0 || rec.Unverified || len(rec.AuthMethod) != 0 || rec.Status != 400 {
				return fmt.Errorf("%s: a conflict is attributed: %+v", name, rec)
			}
		case name == "token and bad key":
			if len(rec.Principal) != 0 || !rec.Unverified || len(rec.HintKeyFP) == 0 {
				return fmt.Errorf("%s: recorded as %q unverified=%v fp=%q", name, rec.Principal, rec.Unverified, rec.HintKeyFP)
			}
		case name == "token and key agree" || name == "key as a second factor" || name == "key first, token agrees":
			if string(rec.Principal) != "vera" || string(rec.AuthMethod) != "jwt" {
				return fmt.Errorf("%s: recorded as %q by %q", name, rec.Principal, rec.AuthMethod)
			}
		}
		return nil
	})
	if conflicts != 3 {
		t.Fatalf("%d conflicting-credential refusals recorded, want 3", conflicts)
	}
}
