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
