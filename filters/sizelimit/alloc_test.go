//go:build !race

package sizelimit

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

func TestZeroAllocs(t *testing.T) {
	f, err := New(filtertest.Spec("sizelimit", "r", "{max_bytes: 8}", nil))
	if err != nil {
		t.Fatal(err)
	}
	ex := filtertest.NewExchange("POST", "/x", nil, []byte("123456789"))
	defer filters.ReleaseExchange(ex)
	filtertest.AssertZeroAllocs(t, "sizelimit refusal", func() { f.Handle(ex) })
}
