package filters_test

import (
	"reflect"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
)

func TestParseClaimRequirements(t *testing.T) {
	cases := []struct {
		name string
		in   map[string]any
		want []filters.ClaimRequirement
		msgs []string
	}{
		{name: "present", in: map[string]any{"sub": "present"}, want: []filters.ClaimRequirement{{
			Name: "sub", Path: []string{"sub"}, Present: true,
			Missing: `claim "sub" is required`, Mismatch: `claim "sub" does not hold a required value`}}},
		{name: "one value of each kind, sorted by name, ints widened", in: map[string]any{
			"tenant": "acme", "email_verified": true, "level": 3, "ratio": 0.5}, want: []filters.ClaimRequirement{
			{Name: "email_verified", Path: []string{"email_verified"}, Want: []any{true},
				Missing: `claim "email_verified" is required`, Mismatch: `claim "email_verified" does not hold a required value`},
			{Name: "level", Path: []string{"level"}, Want: []any{float64(3)},
				Missing: `claim "level" is required`, Mismatch: `claim "level" does not hold a required value`},
			{Name: "ratio", Path: []string{"ratio"}, Want: []any{0.5},
				Missing: `claim "ratio" is required`, Mismatch: `claim "ratio" does not hold a required value`},
			{Name: "tenant", Path: []string{"tenant"}, Want: []any{"acme"},
				Missing: `claim "tenant" is required`, Mismatch: `claim "tenant" does not hold a required value`},
		}},
		{name: "one-of list on a dotted path", in: map[string]any{"realm.tier": []any{"gold", 2, false}}, want: []filters.ClaimRequirement{{
			Name: "realm.tier", Path: []string{"realm", "tier"}, Want: []any{"gold", float64(2), false},
			Missing: `claim "realm.tier" is required`, Mismatch: `claim "realm.tier" does not hold a required value`}}},
		{name: "all problems at once", in: map[string]any{
			"a..b": "present", "empty": []any{}, "nested": []any{"x", map[string]any{}}, "obj": map[string]any{}},
			want: []filters.ClaimRequirement{
				{Name: "empty", Path: []string{"empty"},
					Missing: `claim "empty" is required`, Mismatch: `claim "empty" does not hold a required value`},
				{Name: "nested", Path: []string{"nested"}, Want: []any{"x"},
					Missing: `claim "nested" is required`, Mismatch: `claim "nested" does not hold a required value`},
				{Name: "obj", Path: []string{"obj"},
					Missing: `claim "obj" is required`, Mismatch: `claim "obj" does not hold a required value`},
			},
			msgs: []string{
				`require_claims.a..b: "a..b" is not a dotted claim path`,
				`require_claims.empty: list at least one accepted value`,
				`require_claims.nested: want strings, booleans or numbers in the list`,
				`require_claims.obj: want "present", a string, a boolean, a number or a list of them`,
			}},
		{name: "empty name", in: map[string]any{"": "x"},
			msgs: []string{`require_claims.: "" is not a dotted claim path`}},
		{name: "none", in: nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, msgs := filters.ParseClaimRequirements(c.in)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("requirements\n got %#v\nwant %#v", got, c.want)
			}
			if !reflect.DeepEqual(msgs, c.msgs) {
				t.Errorf("messages\n got %q\nwant %q", msgs, c.msgs)
			}
		})
	}
}
