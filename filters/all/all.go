// Package all is the ordered list of the filter kinds compiled into
// Tollgate. It is explicit — no init() registration — so the set of
// filters a binary can run is visible in one place and testable.
package all

import (
	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/sizelimit"
)

// Registry returns the built-in filter kinds.
func Registry() filters.Registry {
	return filters.Registry{
		{Name: "sizelimit", New: sizelimit.New, Doc: "refuse bodies and query strings over per-route limits (413/414)"},
	}
}
