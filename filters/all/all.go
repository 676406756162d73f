// Package all is the ordered list of the filter kinds compiled into
// Tollgate. It is explicit — no init() registration — so the set of
// filters a binary can run is visible in one place and testable.
package all

import (
	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/apikey"
	"github.com/tollgate-proxy/tollgate/filters/concurrency"
	"github.com/tollgate-proxy/tollgate/filters/introspect"
	"github.com/tollgate-proxy/tollgate/filters/jsonvalidate"
	"github.com/tollgate-proxy/tollgate/filters/jwtauth"
	"github.com/tollgate-proxy/tollgate/filters/mtlsauth"
	"github.com/tollgate-proxy/tollgate/filters/ratelimit"
	"github.com/tollgate-proxy/tollgate/filters/rbac"
	"github.com/tollgate-proxy/tollgate/filters/sizelimit"
)

// Registry returns the built-in filter kinds.
func Registry() filters.Registry {
	return filters.Registry{
		{Name: "jwtauth", New: jwtauth.New, Doc: "verify bearer JWTs (JWKS file or URL, OIDC discovery, HS secret) into the request identity (401/503)"},
		{Name: "apikey", New: apikey.New, Doc: "authenticate by API key (SHA-256 hashes in config); 401 authn.key_missing / authn.key_invalid, 400 authn.conflicting_credentials"},
		{Name: "introspect", New: introspect.New, Doc: "authenticate opaque bearer tokens by RFC 7662 introspection (cached, shared calls); 401 authn.token_inactive, 503 authn.introspection_unavailable"},
		{Name: "mtlsauth", New: mtlsauth.New, Doc: "map a verified client certificate (CN, DNS or URI SAN) to a principal and roles (403)"},
		{Name: "rbac", New: rbac.New, Doc: "role-based access control over the verified identity; 401 authn.required, 403 rbac.*"},
		{Name: "ratelimit", New: ratelimit.New, Doc: "per-client GCRA rate limits: 429 with Retry-After and RateLimit headers"},
		{Name: "concurrency", New: concurrency.New, Doc: "per-route concurrency limit with a bounded FIFO queue: 503 with Retry-After"},
		{Name: "jsonvalidate", New: jsonvalidate.New, Doc: "validate JSON bodies against a per-route JSON Schema, plus query/header rules (400/413/415)"},
		{Name: "sizelimit", New: sizelimit.New, Doc: "refuse bodies and query strings over per-route limits (413/414)"},
	}
}
