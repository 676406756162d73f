package mtlsauth

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
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
		ex.SetHeader("X-Auth-Subject", []byte("forged"))
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

func TestConfigErrors(t *testing.T) {
	f := func(text, want string) {
		t.Helper()
		_, _, err := newFilter(t, text)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v, want %q", err, want)
		}
	}
	f("identities: []", "at least one certificate mapping")
	f("identities: [{principal: p}]", "set exactly one of common_name, dns and uri")
	f("identities: [{common_name: a, dns: b, principal: p}]", "set exactly one")
	f("identities: [{common_name: a}]", "principal is required")
	f("identities: [{uri: 'not a uri', principal: p}]", "invalid uri")
	f("identities: [{common_name: a, principal: p, role: [x]}]", "field role not found")
}
