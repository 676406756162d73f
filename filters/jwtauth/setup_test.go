package jwtauth

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/filters"
)

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	k := testKeys(t)
	jwks := writeFile(t, dir, "jwks.json", k.standardJWKS())
	empty := writeFile(t, dir, "empty.json", []byte(`{"keys":[{"kty":"oct","k":"AAAA"}]}`))
	iss := "issuers:\n  - issuer: https://i.test\n    audiences: [api]\n"
	f := func(y, want string) {
		t.Helper()
		_, err := newFilter(testSpec(y, testRoles()), options{fetchTimeout: time.Second})
		if err == nil {
			t.Fatalf("no error for:\n%s", y)
		}
		if !strings.Contains(err.Error(), want) || !positioned.MatchString(err.Error()) {
			t.Fatalf("error %q, want it to contain %q", err, want)
		}
	}
	f("", "issuers: list at least one issuer")
	f("issuers: []\n", "list at least one issuer")
	f(iss, "set one of jwks_file, jwks_url, discovery or hs_secret")
	f(iss+"    jwks_file: "+jwks+"\n    jwks_url: https://x.test/j\n", "set only one of")
	f(iss+"    jwks_url: http://x.test/jwks\n", "must be an absolute https URL")
	f("issuers:\n  - issuer: http://i.test\n    audiences: [api]\n    discovery: true\n", "discovery: the issuer must be an https URL")
	f("issuers:\n  - issuer: https://i.test\n    jwks_file: "+jwks+"\n", "audiences: list at least one audience")
	f(iss+"    jwks_file: "+jwks+"\n    algorithms: [none]\n", `"none" is not supported`)
	f(iss+"    jwks_file: "+jwks+"\n    algorithms: [HS256]\n", "HS256 needs hs_secret")
	f(iss+"    hs_secret: short\n", "hs_secret: want at least 32 bytes")
	f(iss+"    hs_secret: "+strings.Repeat("s", 40)+"\n    algorithms: [HS512]\n", "HS512 wants a secret of at least 64 bytes")
	f(iss+"    hs_secret: "+strings.Repeat("s", 40)+"\n    algorithms: [RS256]\n", "RS256 needs jwks_file, jwks_url or discovery")
	f(iss+"    jwks_file: "+jwks+"\n    ca_file: /x.pem\n", "ca_file: only used with jwks_url or discovery")
	f(iss+"    jwks_file: "+jwks+"\n    roles_claim: a..b\n", "not a dotted claim path")
	f(iss+"    jwks_file: "+jwks+"\n    refresh_interval: 10ms\n", "refresh_interval: want at least 1s")
	f(iss+"    jwks_file: "+filepathJoin(dir, "missing.json")+"\n", "cannot read JWK set")
	f(iss+"    jwks_file: "+empty+"\n", "no usable signature verification key")
	f(iss+"    jwks_file: "+jwks+"\n  - issuer: https://i.test\n    audiences: [api]\n    jwks_file: "+jwks+"\n", "is listed twice")
	f(iss+"    jwks_file: "+jwks+"\nheader: \"bad header\"\n", "not a valid header name")
	f(iss+"    jwks_file: "+jwks+"\nforward: {subject_header: Authorization}\n", "is the token header")
	f(iss+"    jwks_file: "+jwks+"\nforward: {subject_header: X-A, roles_header: x-a}\n", "is used twice")
	f(iss+"    jwks_file: "+jwks+"\ncache: {max_entries: -1}\n", "cache.max_entries")
	for y, want := range map[string]string{
		iss + "    jwks_file: " + jwks + "\nleeway: 5\n":  "invalid duration",
		iss + "    jwks_file: " + jwks + "\nunknown: 1\n": "field unknown not found",
	} {
		if _, err := newFilter(testSpec(y, nil), options{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("decode error %v, want %q", err, want)
		}
	}
}

// positioned matches an error at a line and column of the block.
var positioned = regexp.MustCompile(`^test\.yaml:\d+:\d+: filter "jwtauth": `)

// TestConfigErrorPositions: every problem of the block in one run, one per
// line, each at the line:col of the setting it names (an issuer-wide one at
// the issuer; a claim whose name holds dots at that claim), the decode
// error with them.
func TestConfigErrorPositions(t *testing.T) {
	y := `require_claims: {tenant: [], email_verified: {x: 1}, "https://x.test/roles": []}
header: "bad header"
issuers:
  - issuer: https://i.test
    audiences: [api, ""]
    jwks_url: https://x.test/j
    jwks_file: /x.json
    algorithms: [RS256, none]
  - issuer: https://i.test
    audiences: [api]
    hs_secret: short
leeway: 5
`
	_, err := newFilter(testSpec(y, testRoles()), options{fetchTimeout: time.Second})
	if err == nil {
		t.Fatal("no error")
	}
	var got []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if positioned.MatchString(l) {
			got = append(got, l)
		}
	}
	want := []string{
		`test.yaml:2:9: filter "jwtauth": header: "bad header" is not a valid header name`,
		`test.yaml:1:46: filter "jwtauth": require_claims.email_verified: want "present", a string, a boolean, a number or a list of them`,
		`test.yaml:1:78: filter "jwtauth": require_claims.https://x.test/roles: list at least one accepted value`,
		`test.yaml:1:26: filter "jwtauth": require_claims.tenant: list at least one accepted value`,
		`test.yaml:5:22: filter "jwtauth": issuers[0].audiences[1]: an audience cannot be empty`,
		`test.yaml:4:5: filter "jwtauth": issuers[0]: set only one of jwks_file, jwks_url and discovery`,
		`test.yaml:8:25: filter "jwtauth": issuers[0].algorithms[1]: "none" is not supported (want RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA, HS256, HS384 or HS512)`,
		`test.yaml:9:13: filter "jwtauth": issuers[1].issuer: "https://i.test" is listed twice`,
		`test.yaml:11:16: filter "jwtauth": issuers[1].hs_secret: want at least 32 bytes`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("errors\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(err.Error(), "invalid duration") {
		t.Errorf("errors\n%v\nlack the decode error", err)
	}
}

func filepathJoin(dir, name string) string { return dir + "/" + name }

func TestConfigDefaults(t *testing.T) {
	f := newFileFilter(t, "", "")
	if f.header != "Authorization" || !f.bearer || f.leeway != 30 || f.optional {
		t.Fatalf("defaults: header %q bearer %v leeway %d optional %v", f.header, f.bearer, f.leeway, f.optional)
	}
	if f.fwdSubject != "X-Auth-Subject" || f.fwdRoles != "X-Auth-Roles" || f.fwdTenant != "X-Auth-Tenant" || len(f.forwarded) != 3 {
		t.Fatalf("forward defaults: %q %q %q %v", f.fwdSubject, f.fwdRoles, f.fwdTenant, f.forwarded)
	}
	is := f.issuers[0]
	for a := algRS256; a <= algEdDSA; a++ {
		if !is.algs.has(a) {
			t.Fatalf("default algorithms miss %s", a)
		}
	}
	if is.algs.has(algHS256) || is.algs.has(algNone) {
		t.Fatal("default algorithms include HMAC or none without a secret")
	}
	if is.interval != 5*time.Minute || is.minRefetch != 10*time.Second {
		t.Fatalf("refresh defaults %v %v", is.interval, is.minRefetch)
	}
	if f.cache.Capacity() < defaultMaxEntries {
		t.Fatalf("cache slots %d", f.cache.Capacity())
	}

	g := newFileFilter(t, "    algorithms: [ES256]\n", "forward: {tenant_header: \"\"}\n")
	if g.issuers[0].algs != 1<<algES256 || g.fwdTenant != "" || len(g.forwarded) != 2 {
		t.Fatalf("explicit settings: algs %b tenant %q", g.issuers[0].algs, g.fwdTenant)
	}
	if code, _, _ := run(t, g, "Bearer "+mint(t, "RS256", claims(nil))); code != "authn.alg_not_allowed" {
		t.Fatalf("RS256 with algorithms [ES256]: %s", code)
	}
}

// TestForwardedHeaders: the pipeline deletes client copies of exactly
// the headers the filter may set, canonical, custom names included.
func TestForwardedHeaders(t *testing.T) {
	f := func(top string, want ...string) {
		t.Helper()
		var fw filters.IdentityForwarder = newFileFilter(t, "", top)
		if got := fw.ForwardedHeaders(); !slices.Equal(got, want) {
			t.Errorf("%q: forwarded headers %q, want %q", top, got, want)
		}
	}
	f("", "X-Auth-Subject", "X-Auth-Roles", "X-Auth-Tenant")
	f("forward: {subject_header: x-user, roles_header: \"\", tenant_header: x-org}\n", "X-User", "X-Org")
	f("forward: {subject_header: \"\", roles_header: \"\", tenant_header: \"\"}\n")
}

func TestJWKSParsing(t *testing.T) {
	k := testKeys(t)
	weak := jwkOf("weak", k.rsa)
	weak["n"] = b64u(k.rsa.N.Bytes()[:100])
	enc := jwkOf("enc", k.rsa2)
	enc["use"] = "enc"
	priv := jwkOf("priv", k.p256)
	priv["d"] = "AAAA"
	mismatch := jwkOf("mis", k.p256)
	mismatch["alg"] = "RS256"
	offCurve := jwkOf("off", k.p256)
	offCurve["y"] = offCurve["x"]
	withAlg := jwkOf("ok", k.ed)
	withAlg["alg"] = "EdDSA"
	doc := jwksDoc(weak, enc, priv, mismatch, offCurve, withAlg,
		map[string]any{"kty": "oct", "k": "AAAA"}, map[string]any{"kty": "EC", "crv": "P-521"}, map[string]any{"kty": "OKP", "crv": "X25519", "x": "AAAA"})
	ks, skipped, err := parseJWKS(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(ks.keys) != 1 || ks.keys[0].kid != "ok" || skipped != 8 {
		t.Fatalf("kept %d keys, skipped %d", len(ks.keys), skipped)
	}
	if _, _, err := parseJWKS([]byte(`{"keys":`)); err == nil {
		t.Fatal("accepted broken JSON")
	}

	// Epochs move only when a key goes away or changes.
	a, _, _ := parseJWKS(jwksDoc(jwkOf("1", k.rsa)))
	a.epoch = nextEpoch(nil, a)
	b, _, _ := parseJWKS(jwksDoc(jwkOf("1", k.rsa), jwkOf("2", k.rsa2)))
	b.epoch = nextEpoch(a, b)
	c, _, _ := parseJWKS(jwksDoc(jwkOf("2", k.rsa2)))
	c.epoch = nextEpoch(b, c)
	d, _, _ := parseJWKS(jwksDoc(jwkOf("2", k.rsa)))
	d.epoch = nextEpoch(c, d)
	if a.epoch != 1 || b.epoch != 1 || c.epoch != 2 || d.epoch != 3 {
		t.Fatalf("epochs %d %d %d %d", a.epoch, b.epoch, c.epoch, d.epoch)
	}
}

func TestKidlessTokens(t *testing.T) {
	f := newFileFilter(t, "", "")
	k := testKeys(t)
	good := claims(nil)
	f2 := func(alg, want string) {
		t.Helper()
		tok := mintRaw(t, alg, k.signer(alg), `{"alg":"`+alg+`"}`, good)
		if code, _, _ := run(t, f, "Bearer "+tok); code != want {
			t.Fatalf("%s without kid: %q, want %q", alg, code, want)
		}
	}
	f2("EdDSA", "") // the set's only Ed25519 key
	f2("ES384", "")
	f2("RS256", "") // one RSA key
	two := newFileFilter(t, "", "")
	ks := two.issuers[0].keys.Load()
	extra, _, _ := parseJWKS(jwksDoc(jwkOf("rsa1", k.rsa), jwkOf("rsa2", k.rsa2)))
	extra.epoch = ks.epoch + 1
	two.issuers[0].keys.Store(extra)
	tok := mintRaw(t, "RS256", k.rsa, `{"alg":"RS256"}`, good)
	if code, _, _ := run(t, two, "Bearer "+tok); code != "authn.unknown_key" {
		t.Fatalf("ambiguous kid-less token: %q", code)
	}
}
