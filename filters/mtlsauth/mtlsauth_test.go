package mtlsauth

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

func newFilter(t *testing.T, text string) (*Filter, *filters.Roles, error) {
	t.Helper()
	roles := filters.NewRoles()
	f, err := New(filtertest.Spec("mtlsauth", "r", text, roles))
	if err != nil {
		return nil, roles, err
	}
	return f.(*Filter), roles, nil
}

func TestURIEqual(t *testing.T) {
	f := func(raw, want string, eq bool) {
		t.Helper()
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := uriEqual(u.Scheme, u.Host, u.Path, u.Opaque, want); got != eq {
			t.Errorf("uriEqual(%q, %q) = %v", raw, want, got)
		}
	}
	f("spiffe://acme.test/billing", "spiffe://acme.test/billing", true)
	f("spiffe://acme.test/billing", "spiffe://acme.test/billing2", false)
	f("spiffe://acme.test/billing", "spiffe://acme.tes/tbilling", false)
	f("spiffe://acme.test/billing", "spiffe:/acme.test/billing", false)
	f("urn:svc:billing", "urn:svc:billing", true)
	f("urn:svc:billing", "urn:svc:billinG", false)
}

func TestHandle(t *testing.T) {
	flt, roles, err := newFilter(t, `
subject_header: X-Auth-Subject
identities:
  - {common_name: billing-svc, principal: billing, roles: [editor]}
  - {uri: "spiffe://acme.test/reports", principal: reports, roles: [viewer]}
`)
	if err != nil {
		t.Fatal(err)
	}
	editor, _ := roles.Lookup([]byte("editor"))
	f := func(cert *x509.Certificate, reason *filters.Reason, principal string) {
		t.Helper()
		ex := filtertest.NewExchange("GET", "/x", nil, nil)
		defer filters.ReleaseExchange(ex)
		ex.PeerCertificate = cert
		v := flt.Handle(ex)
		if v.Reason() != reason {
			t.Fatalf("reason %v, want %v", v.Reason(), reason)
		}
		if got := string(ex.Header("X-Auth-Subject")); got != principal {
			t.Fatalf("X-Auth-Subject %q, want %q", got, principal)
		}
		if principal != "" && (!ex.Identity.Verified || string(ex.Identity.Subject) != principal || ex.Identity.Method != filters.AuthMTLS) {
			t.Fatalf("identity %+v", ex.Identity)
		}
	}
	u, _ := url.Parse("spiffe://acme.test/reports")
	f(&x509.Certificate{Subject: pkix.Name{CommonName: "billing-svc"}}, nil, "billing")
	f(&x509.Certificate{Subject: pkix.Name{CommonName: "x"}, URIs: []*url.URL{u}}, nil, "reports")
	f(&x509.Certificate{Subject: pkix.Name{CommonName: "intruder"}}, ReasonUnmapped, "")
	f(nil, ReasonMissing, "")

	ex := filtertest.NewExchange("GET", "/x", nil, nil)
	ex.PeerCertificate = &x509.Certificate{Subject: pkix.Name{CommonName: "billing-svc"}}
	flt.Handle(ex)
	if !ex.Identity.Roles.Has(editor) {
		t.Fatal("roles not granted")
	}
}

// TestConfigErrors wants every problem of the block at once, one per line,
// each at the line:col of the identity or field it names; an absent field
// is at its identity.
func TestConfigErrors(t *testing.T) {
	f := func(text string, wants ...string) {
		t.Helper()
		_, _, err := newFilter(t, text)
		filtertest.CheckErrors(t, err, "mtlsauth", wants...)
	}
	f("optional: true", `1:1 identities: at least one certificate mapping is required`)
	f("identities: []", `1:13 identities: at least one certificate mapping is required`)
	f("identities: [{principal: p}]", `1:14 identities[0]: set exactly one of common_name, dns and uri`)
	f("identities: [{common_name: a, dns: b, principal: p}]", `1:14 identities[0]: set exactly one of common_name, dns and uri`)
	f("identities: [{common_name: a}]", `1:14 identities[0].principal: required`)
	f("identities: [{common_name: a, principal: ''}]", `1:42 identities[0].principal: required`)
	f("identities: [{uri: 'not a uri', principal: p}]", `1:20 identities[0].uri: invalid uri "not a uri": want scheme://host/path, such as spiffe://example.org/billing`)
	f(`identities:
  - {common_name: a, principal: p}
  - {uri: "spiffe://x/y?z", principal: q}
  - {dns: b, uri: "spiffe://x/y", roles: [r]}
`,
		`3:11 identities[1].uri: invalid uri "spiffe://x/y?z": want scheme://host/path, such as spiffe://example.org/billing`,
		`4:5 identities[2]: set exactly one of common_name, dns and uri`,
		`4:5 identities[2].principal: required`)

	// A decode error does not hide the checks of what decoded.
	_, _, err := newFilter(t, "identities: [{common_name: a, principal: p, role: [x]}, {dns: b}]")
	if err == nil || !strings.Contains(err.Error(), "field role not found") ||
		!strings.Contains(err.Error(), `test.yaml:1:57: filter "mtlsauth": identities[1].principal: required`) {
		t.Errorf("error\n%v\nwant the unknown key and the missing principal", err)
	}
}

// TestRoleTableFull: a role the shared table has no room for is reported
// at the role.
func TestRoleTableFull(t *testing.T) {
	roles := filters.NewRoles()
	for i := range filters.MaxRoles {
		if _, err := roles.Intern("r" + strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := New(filtertest.Spec("mtlsauth", "r", "identities: [{dns: a, principal: p, roles: [r0, extra]}]", roles))
	if err == nil || !strings.HasPrefix(err.Error(), `test.yaml:1:49: filter "mtlsauth": identities[0].roles[1]: cannot add role "extra"`) {
		t.Errorf("error %v, want it at the role", err)
	}
}

// TestEarlierIdentity: a certificate after an identity an earlier filter
// verified (a token, a key) must name the same principal and tenant, or
// the request is refused 400 and attributed to no one; with
// second_factor the certificate may name another principal and the first
// identity stays. Either way the subject header carries the identity kept.
func TestEarlierIdentity(t *testing.T) {
	const ids = `
subject_header: X-Auth-Subject
identities:
  - {common_name: vera-laptop, principal: vera, tenant: acme, roles: [editor]}
  - {common_name: billing-svc, principal: billing}
`
	strict, roles, err := newFilter(t, ids)
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := newFilter(t, ids+"second_factor: true\n")
	if err != nil {
		t.Fatal(err)
	}
	editor, _ := roles.Lookup([]byte("editor"))
	f := func(name string, flt *Filter, method filters.AuthMethod, subject, tenant, cn string, reason *filters.Reason, kept string) {
		t.Helper()
		ex := filtertest.NewExchange("GET", "/x", nil, nil)
		defer filters.ReleaseExchange(ex)
		ex.SetHeader("X-Auth-Subject", []byte("forged"))
		ex.Identity.Method, ex.Identity.Verified = method, method != filters.AuthNone
		ex.Identity.Subject = append(ex.Identity.Subject[:0], subject...)
		ex.Identity.Tenant = append(ex.Identity.Tenant[:0], tenant...)
		ex.PeerCertificate = &x509.Certificate{Subject: pkix.Name{CommonName: cn}}
		if v := flt.Handle(ex); v.Reason() != reason {
			t.Fatalf("%s: reason %v, want %v", name, v.Reason(), reason)
		}
		if reason == filters.ReasonConflictingCredentials {
			if ex.Identity.Verified || len(ex.Identity.Subject) != 0 || ex.Identity.Method != filters.AuthNone {
				t.Fatalf("%s: a conflict is attributed: %+v", name, ex.Identity)
			}
			return
		}
		if reason != nil {
			return
		}
		if string(ex.Identity.Subject) != kept || string(ex.Header("X-Auth-Subject")) != kept || !ex.Identity.Verified {
			t.Fatalf("%s: identity %q, header %q, want %q", name, ex.Identity.Subject, ex.Header("X-Auth-Subject"), kept)
		}
		if method != filters.AuthNone && (ex.Identity.Method != method || ex.Identity.Roles.Has(editor)) {
			t.Fatalf("%s: the first identity was not kept as it was: %+v", name, ex.Identity)
		}
	}
	f("token, same principal", strict, filters.AuthJWT, "vera", "acme", "vera-laptop", nil, "vera")
	f("token, another principal", strict, filters.AuthJWT, "ada", "acme", "vera-laptop", filters.ReasonConflictingCredentials, "")
	f("token, another tenant", strict, filters.AuthJWT, "vera", "globex", "vera-laptop", filters.ReasonConflictingCredentials, "")
	f("token without tenant", strict, filters.AuthJWT, "vera", "", "vera-laptop", filters.ReasonConflictingCredentials, "")
	f("introspected token, workload cert", strict, filters.AuthIntrospection, "vera", "acme", "billing-svc", filters.ReasonConflictingCredentials, "")
	f("api key, another principal", strict, filters.AuthAPIKey, "ci-bot", "", "vera-laptop", filters.ReasonConflictingCredentials, "")
	f("second factor, workload cert", second, filters.AuthJWT, "ada", "acme", "billing-svc", nil, "ada")
	f("second factor, unmapped cert", second, filters.AuthJWT, "ada", "acme", "intruder", ReasonUnmapped, "")
	f("no earlier identity", strict, filters.AuthNone, "", "", "vera-laptop", nil, "vera")
}
