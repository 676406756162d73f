package rbac

import (
	"strconv"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// testSpec returns a spec whose Decode strictly decodes src, sharing roles.
func testSpec(src string, roles *filters.Roles) filters.Spec {
	return filtertest.Spec("rbac", "r", src, roles)
}

// newTestFilter builds a filter from YAML with a fresh role table.
func newTestFilter(t testing.TB, src string) (*Filter, *filters.Roles) {
	t.Helper()
	roles := filters.NewRoles()
	f, err := build(testSpec(src, roles))
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return f, roles
}

// principal describes who makes a test request.
type principal struct {
	verified bool
	subject  string
	tenant   string
	roles    []string
}

// request is a test request; fill writes it into an exchange without
// allocating once the exchange's buffers have grown.
type request struct {
	method, path []byte
	subject      []byte
	tenant       []byte
	roles        filters.RoleSet
	scopes       filters.RoleSet
	verified     bool
	params       [][2][]byte
	headers      *filtertest.StaticHeaders
}

func newRequest(t testing.TB, roles *filters.Roles, p principal, method, path string) *request {
	t.Helper()
	r := &request{
		method:   []byte(method),
		path:     []byte(path),
		subject:  []byte(p.subject),
		tenant:   []byte(p.tenant),
		verified: p.verified,
		headers:  &filtertest.StaticHeaders{},
	}
	for _, name := range p.roles {
		i, ok := roles.Lookup([]byte(name))
		if !ok {
			// A role the policy does not know: intern it, as an
			// authentication filter would have at construction.
			var err error
			if i, err = roles.Intern(name); err != nil {
				t.Fatal(err)
			}
		}
		r.roles |= 1 << uint(i)
	}
	return r
}

func (r *request) param(name, value string) *request {
	r.params = append(r.params, [2][]byte{[]byte(name), []byte(value)})
	return r
}

func (r *request) fill(ex *filters.Exchange) {
	ex.Reset()
	ex.Method = r.method
	ex.Path = r.path
	id := &ex.Identity
	id.Subject = append(id.Subject, r.subject...)
	id.Tenant = append(id.Tenant, r.tenant...)
	id.Roles = r.roles
	id.Scopes = r.scopes
	id.Verified = r.verified
	if r.verified {
		id.Method = filters.AuthJWT
	}
	ex.SetHeaders(r.headers)
	for _, p := range r.params {
		ex.Params.Add(filters.B2S(p[0]), p[1])
	}
}

// decide runs f on r and returns "allow" or the refusal's "status code".
func decide(f *Filter, r *request) string {
	ex := filters.AcquireExchange()
	defer filters.ReleaseExchange(ex)
	r.fill(ex)
	v := f.Handle(ex)
	if v.IsContinue() {
		return "allow"
	}
	return strconv.Itoa(v.Reason().Status) + " " + v.Reason().Code
}
