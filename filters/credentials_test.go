package filters

import "testing"

func TestConflictsWithKey(t *testing.T) {
	f := func(method AuthMethod, verified bool, subject, tenant, otherSubject, otherTenant string, want bool) {
		t.Helper()
		id := &Identity{Method: method, Verified: verified, Subject: []byte(subject), Tenant: []byte(tenant)}
		if got := ConflictsWithKey(id, []byte(otherSubject), []byte(otherTenant)); got != want {
			t.Errorf("ConflictsWithKey(%v verified=%v %q/%q, %q/%q) = %v, want %v", method, verified, subject, tenant, otherSubject, otherTenant, got, want)
		}
	}
	// An API key's or a client certificate's principal, then a token's.
	f(AuthAPIKey, true, "vera", "acme", "vera", "acme", false)
	f(AuthAPIKey, true, "vera", "acme", "ada", "acme", true)
	f(AuthAPIKey, true, "vera", "acme", "vera", "globex", true)
	f(AuthAPIKey, true, "vera", "", "vera", "", false)
	f(AuthMTLS, true, "billing", "", "billing", "", false)
	f(AuthMTLS, true, "billing", "", "vera", "", true)
	f(AuthMTLS, true, "vera", "acme", "vera", "", true)
	// Nothing verified before, or another token: no conflict to judge here.
	f(AuthMTLS, false, "intruder", "", "vera", "", false)
	f(AuthNone, false, "", "", "vera", "", false)
	f(AuthJWT, true, "vera", "", "ada", "", false)
	f(AuthIntrospection, true, "vera", "", "ada", "", false)
}
