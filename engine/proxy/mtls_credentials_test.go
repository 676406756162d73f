package proxy_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

// mtlsCredentialsConfig: a client certificate and an optional bearer
// token on one TLS listener. /echo/certfirst/ reads the certificate
// first, /echo/tokenfirst/ the token first, /echo/second/ takes the
// certificate as a second factor after the token.
const mtlsCredentialsConfig = `
log: {level: warn}
admin: {listen: 127.0.0.1:0}
listeners:
  - name: public
    listen: 127.0.0.1:0
    engine: %[8]s
    tls: {cert: %[2]q, key: %[3]q, client_ca: %[4]q, client_auth: optional}
upstreams: [{name: demo, targets: [%[1]s]}]
audit: {dir: %[5]s, signing_key_file: %[6]s, checkpoint_interval: 50ms}
filters:
  - id: jwt
    name: jwtauth
    config:
      optional: true
      issuers: [{issuer: https://idp.test, audiences: [orders-api], jwks_file: %[7]s, tenant_claim: tenant}]
  - id: certs
    name: mtlsauth
    config:
      optional: true
      subject_header: X-Cert-Subject
      identities:
        - {common_name: vera-laptop, principal: vera, tenant: acme, roles: [clerk]}
        - {common_name: billing-svc, principal: billing, roles: [clerk]}
  - id: policy
    name: rbac
    config:
      roles: {clerk: {allow: [{methods: [GET], paths: ["/echo/**"]}]}}
routes:
  - {name: certfirst, path: "/echo/certfirst/{x}", upstream: demo, filters: [{use: certs}, {use: jwt}, {use: policy}]}
  - {name: tokenfirst, path: "/echo/tokenfirst/{x}", upstream: demo, filters: [{use: jwt}, {use: certs}, {use: policy}]}
  - name: second
    path: "/echo/second/{x}"
    upstream: demo
    filters:
      - {use: jwt}
      - name: mtlsauth
        config:
          second_factor: true
          subject_header: X-Cert-Subject
          identities: [{common_name: billing-svc, principal: billing}]
      - {use: policy}
`

// TestMutualTLSAndTokenConflict holds a client certificate and a bearer
// token to the conflicting-credentials rule of API keys: both valid and
// naming different principals (or tenants) is 400
// authn.conflicting_credentials with no principal recorded and nothing
// forwarded, in either filter order, unless the certificate is a second
// factor. It runs on the fasthttp engine only: the gnet engine does not
// terminate TLS, and the gnet row checks that such a config is refused.
func TestMutualTLSAndTokenConflict(t *testing.T) {
	eachEngine(t, mutualTLSAndTokenConflict)
}

func mutualTLSAndTokenConflict(t *testing.T, engine string) {
	up := e2etest.StartUpstream(t)
	dir := t.TempDir()
	kit, jwksFile := newJWTKit(t, dir)
	keyFile, logDir, _ := auditSetup(t, dir, "tollgate.test/mtls-credentials")
	ca := newTestCA(t)
	certFile, certKey := writePair(t, ca.issue(t, "127.0.0.1", true))
	cfg := fmt.Sprintf(mtlsCredentialsConfig, up.Addr, certFile, certKey, ca.file, logDir, keyFile, jwksFile, engine)
	if engine == "gnet" {
		_, err := startProxyErr(writeConfig(t, cfg))
		if err == nil || !strings.Contains(err.Error(), "the gnet engine does not terminate TLS") {
			t.Fatalf("a TLS listener on the gnet engine: %v, want it refused", err)
		}
		return
	}
	p := startProxy(t, cfg)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	certs := map[string]tls.Certificate{}
	for _, cn := range []string{"vera-laptop", "billing-svc", "intruder"} {
		certs[cn] = ca.issue(t, cn, false)
	}
	clients := map[string]*http.Client{}
	client := func(cn string) *http.Client {
		if c, ok := clients[cn]; ok {
			return c
		}
		tc := &tls.Config{RootCAs: pool}
		if cn != "" {
			tc.Certificates = []tls.Certificate{certs[cn]}
		}
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
		t.Cleanup(c.CloseIdleConnections)
		clients[cn] = c
		return c
	}
	now := time.Now()
	tok := func(sub, tenant string) string {
		return "Bearer " + kit.token(t, map[string]any{"iss": "https://idp.test", "aud": "orders-api", "sub": sub, "tenant": tenant,
			"roles": []string{"clerk"}, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	}

	type row struct {
		name, path, cert, token string
		status                  int
		reason                  string
		subject, method         string // the recorded principal and auth method
		tokenHdr, certHdr       string // the upstream's X-Auth-Subject (jwtauth) and X-Cert-Subject (mtlsauth)
	}
	rows := []row{
		{"cert alone", "/echo/certfirst/1", "vera-laptop", "", 200, "", "vera", "mtls", "", "vera"},
		{"token alone", "/echo/certfirst/1", "", tok("vera", "acme"), 200, "", "vera", "jwt", "vera", ""},
		{"cert then token, same principal", "/echo/certfirst/1", "vera-laptop", tok("vera", "acme"), 200, "", "vera", "jwt", "vera", "vera"},
		{"cert then token, another principal", "/echo/certfirst/1", "vera-laptop", tok("ada", "acme"), 400, "authn.conflicting_credentials", "", "", "", ""},
		{"workload cert then user token", "/echo/certfirst/1", "billing-svc", tok("vera", "acme"), 400, "authn.conflicting_credentials", "", "", "", ""},
		{"token then cert, same principal", "/echo/tokenfirst/1", "vera-laptop", tok("vera", "acme"), 200, "", "vera", "jwt", "vera", "vera"},
		{"token then cert, another principal", "/echo/tokenfirst/1", "billing-svc", tok("vera", "acme"), 400, "authn.conflicting_credentials", "", "", "", ""},
		{"token then cert, another tenant", "/echo/tokenfirst/1", "vera-laptop", tok("vera", "globex"), 400, "authn.conflicting_credentials", "", "", "", ""},
		{"token then unmapped cert", "/echo/tokenfirst/1", "intruder", tok("vera", "acme"), 403, "authn.client_cert_unmapped", "", "", "", ""},
		{"cert as a second factor", "/echo/second/1", "billing-svc", tok("ada", "acme"), 200, "", "ada", "jwt", "ada", "ada"},
		{"second factor, no cert", "/echo/second/1", "", tok("ada", "acme"), 403, "authn.client_cert_missing", "", "", "", ""},
		{"second factor, unmapped cert", "/echo/second/1", "intruder", tok("ada", "acme"), 403, "authn.client_cert_unmapped", "", "", "", ""},
	}
	ids := map[string]row{}
	for _, r := range rows {
		before := up.Requests()
		req, _ := http.NewRequest("GET", "https://"+p.addr+r.path, nil)
		req.Header.Set("X-Auth-Subject", "forged")
		req.Header.Set("X-Cert-Subject", "forged")
		if r.token != "" {
			req.Header.Set("Authorization", r.token)
		}
		hr, err := client(r.cert).Do(req)
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		body, _ := io.ReadAll(io.LimitReader(hr.Body, 64<<10))
		hr.Body.Close()
		resp := e2etest.Response{Status: hr.StatusCode, Body: string(body), Header: hr.Header}
		statusOK, passed := checkAnswer(t, r.name, resp, r.status, r.reason, "", up.Requests()-before)
		if statusOK {
			ids[resp.Header.Get("X-Request-Id")] = r
		}
		if !passed {
			continue
		}
		e := e2etest.DecodeEcho(t, resp)
		if got := e.Header("X-Auth-Subject"); got != r.tokenHdr {
			t.Errorf("%s: the upstream got X-Auth-Subject %q, want %q", r.name, got, r.tokenHdr)
		}
		if got := e.Header("X-Cert-Subject"); got != r.certHdr {
			t.Errorf("%s: the upstream got X-Cert-Subject %q, want %q", r.name, got, r.certHdr)
		}
		if got := e.Header("Authorization"); got != "" {
			t.Errorf("%s: the upstream got the client's token %.24q", r.name, got)
		}
	}

	conflicts := 0
	shutdownAndScan(t, p, logDir, func(rec *auditlog.Record) error {
		r, ok := ids[string(rec.RequestID)]
		if !ok {
			return nil
		}
		if int(rec.Status) != r.status || string(rec.Reason) != r.reason {
			return fmt.Errorf("%s: recorded %d %q, want %d %q", r.name, rec.Status, rec.Reason, r.status, r.reason)
		}
		switch {
		case r.reason == "authn.conflicting_credentials":
			conflicts++
			if rec.HasPrincipal || len(rec.Principal) != 0 || rec.Unverified || len(rec.AuthMethod) != 0 {
				return fmt.Errorf("%s: a conflict is attributed: %+v", r.name, rec)
			}
		case r.status == 200:
			if string(rec.Principal) != r.subject || string(rec.AuthMethod) != r.method {
				return fmt.Errorf("%s: recorded as %q by %q, want %q by %q", r.name, rec.Principal, rec.AuthMethod, r.subject, r.method)
			}
		}
		return nil
	})
	if conflicts != 4 {
		t.Fatalf("%d conflicting-credential refusals recorded, want 4", conflicts)
	}
}
