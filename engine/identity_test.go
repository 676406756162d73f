package engine_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/engine"
	"github.com/tollgate-proxy/tollgate/filters/all"
)

// The hash of an API key no test presents: these tests only compile.
const unusedKeyHash = "0b1e8b5e6bfb6c5bf35a4e24b9bd4f8e2a1d7c7ca0f0a6b1a3e2c4d5f6a7b8c9"

// TestIdentityHeadersCompile checks the union of the identity headers a
// route's (and the not_found chain's) filters forward: canonical, once
// each, in chain order, custom names included.
func TestIdentityHeadersCompile(t *testing.T) {
	const cfg = `listeners: [{name: public, listen: 127.0.0.1:0}]
upstreams: [{name: demo, targets: [127.0.0.1:9]}]
filters:
  - {id: keys, name: apikey, config: {optional: true, forward: {tenant_header: x-key-tenant}, keys: [{id: k, sha256: "` + unusedKeyHash + `"}]}}
  - {id: certs, name: mtlsauth, config: {optional: true, subject_header: x-client-principal, identities: [{common_name: svc, principal: svc}]}}
not_found: {filters: [{name: apikey, config: {optional: true, forward: {roles_header: "", tenant_header: ""}, keys: [{id: k, sha256: "` + unusedKeyHash + `"}]}}]}
routes:
  - {name: both, path: /both, upstream: demo, filters: [{use: keys}, {use: certs}]}
  - {name: certs, path: /certs, upstream: demo, filters: [{use: certs}]}
  - {name: twice, path: /twice, upstream: demo, filters: [{use: keys}, {name: apikey, config: {keys: [{id: k, sha256: "` + unusedKeyHash + `"}]}}]}
  - {name: none, path: /none, upstream: demo}
`
	rt, err := compileText(t, all.Registry(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &engine.Holder{}
	h.Swap(rt)
	t.Cleanup(h.Close)
	f := func(route string, want ...string) {
		t.Helper()
		for _, r := range rt.Routes {
			if r.Info.Name == route {
				if !slices.Equal(r.IdentityHeaders, want) {
					t.Errorf("route %s: identity headers %q, want %q", route, r.IdentityHeaders, want)
				}
				return
			}
		}
		t.Fatalf("no route %s", route)
	}
	f("both", "X-Auth-Subject", "X-Auth-Roles", "X-Key-Tenant", "X-Client-Principal")
	f("certs", "X-Client-Principal")
	f("twice", "X-Auth-Subject", "X-Auth-Roles", "X-Key-Tenant", "X-Auth-Tenant")
	f("none")
	if want := []string{"X-Auth-Subject"}; !slices.Equal(rt.NotFoundIdentity, want) {
		t.Errorf("not_found: identity headers %q, want %q", rt.NotFoundIdentity, want)
	}
}

// TestIdentityHeaderThatCarriesACredential: a header one filter forwards
// an identity in and another reads a credential from cannot be stripped
// before the chain runs, so the config is refused, each case with its
// position.
func TestIdentityHeaderThatCarriesACredential(t *testing.T) {
	const cfg = `listeners: [{name: public, listen: 127.0.0.1:0}]
upstreams: [{name: demo, targets: [127.0.0.1:9]}]
not_found: {filters: [{name: apikey, config: {header: X-Token, forward: {subject_header: x-other}, keys: [{id: k, sha256: "` + unusedKeyHash + `"}]}}, {name: mtlsauth, config: {subject_header: x-token, identities: [{common_name: svc, principal: svc}]}}]}
routes:
  - name: clash
    path: /clash
    upstream: demo
    filters:
      - {name: apikey, config: {header: X-Token, keys: [{id: k, sha256: "` + unusedKeyHash + `"}]}}
      - {name: apikey, config: {header: X-Other-Key, forward: {subject_header: X-Token}, keys: [{id: k, sha256: "` + unusedKeyHash + `"}]}}
`
	_, err := compileText(t, all.Registry(), cfg)
	if err == nil {
		t.Fatal("compiled a route that forwards an identity in a credential header")
	}
	msg := err.Error()
	for _, want := range []string{
		`c.yaml:10:9: routes[clash].filters[1] (apikey): forwards the identity in "X-Token", which a filter of the chain reads a credential from`,
		`c.yaml:3:195: not_found.filters[1] (mtlsauth): forwards the identity in "X-Token", which a filter of the chain reads a credential from`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}
