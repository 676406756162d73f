// Package sizelimit refuses requests whose body, query string or header
// count exceeds a route's limits, before anything else looks at them.
//
// Why a filter when the listener already caps bodies: limits are a
// per-route policy (an upload route takes megabytes, an order API a few
// kilobytes), and a refusal by a filter is recorded with its own reason.
package sizelimit

import (
	"github.com/tollgate-proxy/tollgate/filters"
)

// Config is the filter's config block.
type Config struct {
	// MaxBytes caps the request body; unset or 0 means no limit beyond the route's.
	MaxBytes *filters.ByteSize `yaml:"max_bytes"`
	// MaxQueryBytes caps the raw query string; unset or 0 means no limit.
	MaxQueryBytes *filters.ByteSize `yaml:"max_query_bytes"`
}

// Filter enforces the limits.
type Filter struct {
	maxBody, maxQuery int64
}

// Interface guard.
var _ filters.Filter = (*Filter)(nil)

var (
	reasonBody  = filters.NewReason("sizelimit.body_too_large", 413, filters.DecisionInvalid, "request body exceeds the route's limit")
	reasonQuery = filters.NewReason("sizelimit.query_too_long", 414, filters.DecisionInvalid, "query string exceeds the route's limit")
)

// Name implements filters.Filter.
func (f *Filter) Name() string { return "sizelimit" }

// ReadsBody implements filters.BodyReader: with a body limit the filter
// runs once the body is read (a chunked body has no declared length).
func (f *Filter) ReadsBody() bool { return f.maxBody > 0 }

// Handle implements filters.Filter.
func (f *Filter) Handle(ex *filters.Exchange) filters.Verdict {
	if f.maxBody > 0 && (ex.ContentLength > f.maxBody || int64(len(ex.Body)) > f.maxBody) {
		return filters.Respond(reasonBody)
	}
	if f.maxQuery > 0 && int64(len(ex.Query)) > f.maxQuery {
		return filters.Respond(reasonQuery)
	}
	return filters.Continue
}
