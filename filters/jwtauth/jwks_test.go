package jwtauth

import (
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// keyServer is an HTTPS JWKS and discovery endpoint on 127.0.0.1.
type keyServer struct {
	srv     *httptest.Server
	jwks    atomic.Pointer[[]byte]
	issuer  atomic.Pointer[string]
	down    atomic.Bool
	fetches atomic.Int64
	caFile  string
}

func newKeyServer(t *testing.T, jwks []byte) *keyServer {
	t.Helper()
	ks := &keyServer{}
	ks.jwks.Store(&jwks)
	mux := http.NewServeMux()
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		ks.fetches.Add(1)
		if ks.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(*ks.jwks.Load())
	})
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		iss := ks.srv.URL
		if p := ks.issuer.Load(); p != nil {
			iss = *p
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"issuer":"` + iss + `","jwks_uri":"` + ks.srv.URL + `/jwks","id_token_signing_alg_values_supported":["RS256"]}`))
	})
	ks.srv = httptest.NewUnstartedServer(mux)
	ks.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // expected handshake failures
	ks.srv.StartTLS()
	if !strings.HasPrefix(ks.srv.Listener.Addr().String(), "127.0.0.1:") {
		t.Fatalf("server not on loopback: %s", ks.srv.Listener.Addr())
	}
	t.Cleanup(ks.srv.Close)
	ks.caFile = writeFile(t, t.TempDir(), "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ks.srv.Certificate().Raw}))
	return ks
}

func (ks *keyServer) publish(doc []byte) { ks.jwks.Store(&doc) }

// remoteFilter builds a filter whose only issuer fetches keys from ks.
func remoteFilter(t *testing.T, ks *keyServer, source string) *Filter {
	t.Helper()
	return remoteFilterRefetch(t, ks, source, "30ms")
}

func remoteFilterRefetch(t *testing.T, ks *keyServer, source, minRefetch string) *Filter {
	t.Helper()
	iss := testIssuer
	if source == "discovery: true" {
		iss = ks.srv.URL
	}
	y := "issuers:\n  - issuer: " + iss + "\n    audiences: [api]\n    " + source + "\n    ca_file: " + ks.caFile +
		"\n    min_refetch_interval: " + minRefetch + "\n    refresh_interval: 1h\n"
	f, err := newFilter(testSpec(y, testRoles()), options{now: func() time.Time { return testNow }, retryMin: 20 * time.Millisecond, fetchTimeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("newFilter: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// eventually retries check every 10ms for up to 5s.
func eventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if check() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestJWKSRotation(t *testing.T) {
	k := testKeys(t)
	ks := newKeyServer(t, jwksDoc(jwkOf("rsa1", k.rsa)))
	f := remoteFilter(t, ks, "jwks_url: "+ks.srv.URL+"/jwks")
	tokA := "Bearer " + mint(t, "RS256", claims(map[string]any{"sub": "a"}))
	tokB := "Bearer " + mintRaw(t, "RS256", k.rsa2, `{"alg":"RS256","kid":"rsa2"}`, claims(map[string]any{"sub": "b"}))
	if code, _, _ := run(t, f, tokA); code != "" {
		t.Fatalf("tokA: %s", code)
	}
	if code, _, _ := run(t, f, tokB); code != "authn.unknown_key" {
		t.Fatalf("tokB before rotation: %s", code)
	}

	// A new kid appears: the unknown kid triggers a refetch.
	ks.publish(jwksDoc(jwkOf("rsa1", k.rsa), jwkOf("rsa2", k.rsa2)))
	eventually(t, "new kid accepted", func() bool { c, _, _ := run(t, f, tokB); return c == "" })
	if code, _, _ := run(t, f, tokA); code != "" {
		t.Fatalf("tokA after adding a key: %s", code)
	}
	if f.m.hits.Get() == 0 {
		t.Fatal("tokA was not served from the cache")
	}

	// The old kid is removed: cached tokens signed with it stop working as
	// soon as the set is refreshed.
	ks.publish(jwksDoc(jwkOf("rsa2", k.rsa2)))
	poke := "Bearer " + mintRaw(t, "RS256", k.rsa2, `{"alg":"RS256","kid":"not-yet"}`, claims(nil))
	eventually(t, "old kid dropped", func() bool {
		run(t, f, poke)
		c, _, _ := run(t, f, tokA)
		return c == "authn.unknown_key"
	})
	if code, _, _ := run(t, f, tokB); code != "" {
		t.Fatalf("tokB after removing the old key: %s", code)
	}
}

func TestUnknownKidRefetchIsRateLimited(t *testing.T) {
	k := testKeys(t)
	ks := newKeyServer(t, k.standardJWKS())
	f := remoteFilterRefetch(t, ks, "jwks_url: "+ks.srv.URL+"/jwks", "1h")
	before := ks.fetches.Load()
	for i := 0; i < 300; i++ {
		tok := "Bearer " + mintRaw(t, "EdDSA", k.ed, `{"alg":"EdDSA","kid":"random-`+itoa(i)+`"}`, claims(nil))
		if code, _, _ := run(t, f, tok); code != "authn.unknown_key" {
			t.Fatalf("random kid: %s", code)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if n := ks.fetches.Load() - before; n > 1 {
		t.Fatalf("%d fetches for a flood of unknown kids, want at most 1", n)
	}
}

func TestJWKSDownAtStartAndLater(t *testing.T) {
	k := testKeys(t)
	ks := newKeyServer(t, k.standardJWKS())
	ks.down.Store(true)
	f := remoteFilter(t, ks, "jwks_url: "+ks.srv.URL+"/jwks")
	tok := "Bearer " + mint(t, "ES256", claims(nil))
	code, ex, _ := run(t, f, tok)
	if code != "authn.keys_unavailable" || ex.Reason() != nil && ex.Reason().Status != 503 {
		t.Fatalf("with no keys: %s", code)
	}
	if refusals[refKeysUnavailable].reason.Status != 503 {
		t.Fatal("keys_unavailable must be a 503")
	}
	ks.down.Store(false)
	eventually(t, "keys loaded after the endpoint came up", func() bool { c, _, _ := run(t, f, tok); return c == "" })

	// The endpoint fails again: the last good set is kept.
	ks.down.Store(true)
	errsBefore := f.m.refreshErr[0].Get()
	poke := "Bearer " + mintRaw(t, "ES256", k.p256, `{"alg":"ES256","kid":"poke"}`, claims(nil))
	eventually(t, "a failed refresh", func() bool { run(t, f, poke); return f.m.refreshErr[0].Get() > errsBefore })
	fresh := "Bearer " + mint(t, "ES256", claims(map[string]any{"sub": "not-cached"}))
	if code, ex, _ := run(t, f, fresh); code != "" || string(ex.Identity.Subject) != "not-cached" {
		t.Fatalf("after a failed refresh: %s", code)
	}
	if f.issuers[0].lastErr.Load() == nil {
		t.Fatal("last refresh error not recorded")
	}
}

func TestOIDCDiscovery(t *testing.T) {
	k := testKeys(t)
	ks := newKeyServer(t, k.standardJWKS())
	f := remoteFilter(t, ks, "discovery: true")
	tok := "Bearer " + mint(t, "PS256", claims(map[string]any{"iss": ks.srv.URL}))
	if code, ex, _ := run(t, f, tok); code != "" || string(ex.Identity.Issuer) != ks.srv.URL {
		t.Fatalf("discovery: %s %s", code, ex.Detail())
	}

	// Discovery §4.3: a document naming another issuer is not used.
	evil := "https://evil.test"
	ks2 := newKeyServer(t, k.standardJWKS())
	ks2.issuer.Store(&evil)
	f2 := remoteFilter(t, ks2, "discovery: true")
	tok2 := "Bearer " + mint(t, "PS256", claims(map[string]any{"iss": ks2.srv.URL}))
	if code, _, _ := run(t, f2, tok2); code != "authn.keys_unavailable" {
		t.Fatalf("mismatched discovery issuer: %s", code)
	}
}

func TestTLSIsVerified(t *testing.T) {
	k := testKeys(t)
	ks := newKeyServer(t, k.standardJWKS())
	y := "issuers:\n  - issuer: " + testIssuer + "\n    audiences: [api]\n    jwks_url: " + ks.srv.URL + "/jwks\n"
	f, err := newFilter(testSpec(y, nil), options{now: func() time.Time { return testNow }, fetchTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if code, _, _ := run(t, f, "Bearer "+mint(t, "RS256", claims(nil))); code != "authn.keys_unavailable" {
		t.Fatalf("untrusted certificate: %s", code)
	}
	if e := f.issuers[0].lastErr.Load(); e == nil || !strings.Contains((*e).Error(), "certificate") {
		t.Fatalf("last error %v", e)
	}
}

func TestCloseStopsRefresher(t *testing.T) {
	k := testKeys(t)
	ks := newKeyServer(t, k.standardJWKS())
	f := remoteFilter(t, ks, "jwks_url: "+ks.srv.URL+"/jwks")
	done := make(chan struct{})
	go func() { f.Close(); f.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
}
