package apikey

import (
	"net/http"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
	"github.com/tollgate-proxy/tollgate/filters/rbac"
)

// fakeJWT stands in for jwtauth with optional: true: "Bearer good-admin"
// is a verified admin, any other bearer token is refused, no token passes
// anonymous.
type fakeJWT struct{ admin int }

var reasonBadToken = filters.NewReason("authn.bad_signature", 401, filters.DecisionDenied, "bad token")

func (j *fakeJWT) Name() string { return "jwtauth" }

func (j *fakeJWT) Handle(ex *filters.Exchange) filters.Verdict {
	v := string(ex.Header("Authorization"))
	switch {
	case v == "Bearer good-admin":
		ex.Identity.Subject = append(ex.Identity.Subject[:0], "alice"...)
		ex.Identity.Roles = 1 << uint(j.admin)
		ex.Identity.Method = filters.AuthJWT
		ex.Identity.Verified = true
	case len(v) > 7 && v[:7] == "Bearer ":
		return filters.Respond(reasonBadToken)
	}
	return filters.Continue
}

// TestJWTOrAPIKey chains the documented "JWT or API key" setup in front of
// rbac and checks every combination of credentials.
func TestJWTOrAPIKey(t *testing.T) {
	roles := filters.NewRoles()
	admin, _ := roles.Intern("admin")
	key, err := build(testSpec(config("optional: true\n"), roles))
	if err != nil {
		t.Fatal(err)
	}
	authz, err := rbac.New(filters.Spec{Name: "rbac", Pos: "t.yaml:1:1", Roles: roles, Decode: testSpec(`
roles:
  viewer: {allow: [{methods: [GET], paths: ["/api/**"]}]}
  editor: {inherits: [viewer], allow: [{methods: [POST], paths: ["/api/orders"]}]}
  admin: {inherits: [editor], allow: [{methods: ["*"], paths: ["/**"]}]}
`, roles).Decode})
	if err != nil {
		t.Fatal(err)
	}
	chain := filters.NewChain(&fakeJWT{admin: admin}, key, authz)

	f := func(method, path string, h http.Header, want string) {
		t.Helper()
		ex := filtertest.NewExchange(method, path, h, nil)
		defer filters.ReleaseExchange(ex)
		got := ""
		if v := chain.Run(ex); !v.IsContinue() {
			got = v.Reason().Code
		}
		if got != want {
			t.Errorf("%s %s %v: got %q, want %q", method, path, h, got, want)
		}
	}
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	f("DELETE", "/admin/x", hdr("Authorization", "Bearer good-admin"), "")
	f("DELETE", "/admin/x", hdr("Authorization", "Bearer good-admin", "X-Api-Key", wrongKey), "authn.key_invalid")
	f("DELETE", "/admin/x", hdr("Authorization", "Bearer good-admin", "X-Api-Key", ciKey), "authn.conflicting_credentials")
	f("GET", "/api/x", hdr("Authorization", "Bearer forged"), "authn.bad_signature")
	f("GET", "/api/x", hdr("Authorization", "Bearer forged", "X-Api-Key", ciKey), "authn.bad_signature")
	f("POST", "/api/orders", hdr("X-Api-Key", ciKey), "")
	f("DELETE", "/api/orders", hdr("X-Api-Key", ciKey), "rbac.method_denied")
	f("GET", "/admin/x", hdr("X-Api-Key", ciKey), "rbac.path_denied")
	f("DELETE", "/admin/x", hdr("Authorization", "ApiKey "+adminKey), "")
	f("GET", "/api/x", hdr("X-Api-Key", wrongKey), "authn.key_invalid")
	f("GET", "/api/x", nil, "authn.required")
}
