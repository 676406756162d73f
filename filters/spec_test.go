package filters

import "testing"

// TestSpecErrorAt: a problem goes to the setting it names, label parts
// dropped for the lookup but kept in the message; without At, or for a
// message that names no setting, to the entry. At here answers with the
// path it was asked for, so the position shows the lookup.
func TestSpecErrorAt(t *testing.T) {
	s := Spec{Name: "x", Pos: "c.yaml:1:3", At: func(rel string) string { return "<" + rel + ">" }}
	for _, tc := range []struct {
		got  error
		want string
	}{
		{s.ErrorAt("policies[1] (burst).rate", "want %d", 1), `<policies[1].rate>: filter "x": policies[1] (burst).rate: want 1`},
		{s.ErrorAt("a (b) (c).d (e)", "m"), `<a.d>: filter "x": a (b) (c).d (e): m`},
		{s.ErrorAt("a (open", "m"), `<a>: filter "x": a (open: m`},
		{s.Problem("require_claims.tenant: list one"), `<require_claims.tenant>: filter "x": require_claims.tenant: list one`},
		{s.Problem("keys[0] (k).id: bad"), `<keys[0].id>: filter "x": keys[0] (k).id: bad`},
		{s.Problem("set one of a or b"), `c.yaml:1:3: filter "x": set one of a or b`},
		{s.Problem("set one: a or b"), `c.yaml:1:3: filter "x": set one: a or b`},
		{s.Problem(`"q": listed twice`), `c.yaml:1:3: filter "x": "q": listed twice`},
		{Spec{Name: "x", Pos: "c.yaml:1:3"}.ErrorAt("a.b", "m"), `c.yaml:1:3: filter "x": a.b: m`},
	} {
		if tc.got.Error() != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
