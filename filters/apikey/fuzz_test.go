package apikey

import (
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// FuzzCredential feeds arbitrary X-API-Key and Authorization values to
// the filter and checks it against a plain reading of the rules: a request
// is accepted exactly when the key taken from the header (or, failing
// that, from an ApiKey Authorization) is a configured key; the key never
// reaches the upstream or the exchange's identity.
func FuzzCredential(f *testing.F) {
	f.Add(ciKey, "")
	f.Add("", "ApiKey "+ciKey)
	f.Add("", "aPiKeY\t"+adminKey+" ")
	f.Add("", "ApiKeys "+ciKey)
	f.Add(" ", "Bearer "+ciKey)
	f.Add(wrongKey, "ApiKey "+ciKey)
	f.Add("\t"+ciKey+"\t", "")
	f.Add("", "ApiKey")

	flt, err := build(testSpec(config(""), filters.NewRoles()))
	if err != nil {
		f.Fatal(err)
	}
	keys := map[string]string{ciKey: "ci-bot", adminKey: "ops"}
	f.Fuzz(func(t *testing.T, header, authz string) {
		h := &filtertest.StaticHeaders{}
		if header != "" {
			h.Set("X-Api-Key", []byte(header))
		}
		if authz != "" {
			h.Set("Authorization", []byte(authz))
		}
		ex := filters.AcquireExchange()
		defer filters.ReleaseExchange(ex)
		ex.SetHeaders(h)
		v := flt.Handle(ex)

		// The reference reading.
		presented := strings.Trim(header, " \t")
		authKey := len(authz) >= 6 && strings.EqualFold(authz[:6], "apikey") && (len(authz) == 6 || authz[6] == ' ' || authz[6] == '\t')
		if presented == "" && authKey {
			presented = strings.Trim(authz[6:], " \t")
		}
		id, known := keys[presented]
		switch {
		case presented == "":
			if codeOf(v) != "authn.key_missing" {
				t.Fatalf("no key: got %q", codeOf(v))
			}
		case known:
			if !v.IsContinue() || string(ex.Identity.KeyID) != id || !ex.Identity.Verified {
				t.Fatalf("key %q: got %q, identity %+v", id, codeOf(v), ex.Identity)
			}
		default:
			if codeOf(v) != "authn.key_invalid" || ex.Identity.Verified || len(ex.Identity.KeyID) != 2*FingerprintLen {
				t.Fatalf("unknown key: got %q, identity %+v", codeOf(v), ex.Identity)
			}
		}
		// What goes upstream never carries a key.
		if header != "" && h.Peek("X-Api-Key") != nil {
			t.Fatal("X-Api-Key reaches the upstream")
		}
		if authKey && h.Peek("Authorization") != nil {
			t.Fatal("an ApiKey Authorization reaches the upstream")
		}
		if !authKey && authz != "" && h.Peek("Authorization") == nil {
			t.Fatal("another scheme's Authorization was removed")
		}
		// The identity never holds the presented key (beyond a key id or
		// subject that happens to contain it).
		if len(presented) >= 8 && !known {
			for _, b := range [][]byte{ex.Identity.Subject, ex.Identity.KeyID, ex.Identity.Tenant, ex.Identity.Issuer} {
				if strings.Contains(string(b), presented) {
					t.Fatalf("the key leaks into the identity: %q", b)
				}
			}
		}
	})
}
