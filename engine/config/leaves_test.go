package config_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/tollgate-proxy/tollgate/engine/config"
)

func TestLeaves(t *testing.T) {
	a, b, c := errors.New("a"), errors.New("b"), errors.New("c")
	cases := []struct {
		name string
		err  error
		want []error
	}{
		{"nil", nil, nil},
		{"one", a, []error{a}},
		{"joined", errors.Join(a, b), []error{a, b}},
		{"nested, depth first", errors.Join(errors.Join(a, b), c), []error{a, b, c}},
		{"wrapped once is a leaf", fmt.Errorf("ctx: %w", a), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := config.Leaves(tc.err)
			if tc.want == nil && tc.err != nil {
				tc.want = []error{tc.err}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Leaves(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestWithoutRepeats: a check positioned where a decode error is goes; the
// decode error, checks elsewhere and a wrapped decode error stay; a
// failure never becomes success.
func TestWithoutRepeats(t *testing.T) {
	dec := errors.Join(
		&config.Error{File: "c.yaml", Line: 3, Col: 9, Path: "routes[0].filters[0].rate", Msg: `want an integer, got "abc"`},
		&config.Error{File: "c.yaml", Line: 5, Col: 2, Path: "routes[0].filters[0].redis", Msg: "want a mapping"},
	)
	repeat := errors.New(`c.yaml:3:9: filter "x": rate: want a positive rate, got 0`)
	under := errors.New(`c.yaml:5:2: filter "x": redis.addresses: want at least one`)
	near := errors.New(`c.yaml:3:91: filter "x": burst: want a positive burst`)
	elsewhere := errors.New(`c.yaml:7:1: filter "x": mode: want exact or lease`)
	wrapped := fmt.Errorf("c.yaml:3:9: filter %q: %w", "x", config.Leaves(dec)[0])
	for _, tc := range []struct {
		name      string
		err, want error
	}{
		{"nil", nil, nil},
		{"repeats", errors.Join(dec, repeat, under, near, elsewhere), errors.Join(append(config.Leaves(dec), near, elsewhere)...)},
		{"wrapped", errors.Join(wrapped, repeat), wrapped},
		{"only repeats", errors.Join(repeat, under), errors.Join(repeat, under)},
	} {
		got := config.WithoutRepeats(tc.err, dec)
		if (got == nil) != (tc.want == nil) || got != nil && got.Error() != tc.want.Error() {
			t.Errorf("%s: got\n%v\nwant\n%v", tc.name, got, tc.want)
		}
	}
	if got := config.WithoutRepeats(repeat, nil); got != repeat {
		t.Errorf("no decode errors: got %v", got)
	}
}
