package jsonvalidate

import "github.com/tollgate-proxy/tollgate/filters"

// b2s views bytes as a string without copying. It is used for the request
// body (immutable while the filter runs) and for the validator's scratch
// buffer, whose views are used only until the next string is scanned.
func b2s(b []byte) string { return filters.B2S(b) }
