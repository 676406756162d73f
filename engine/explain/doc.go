// Package explain is `tollgate explain`: it answers "what would the proxy
// do with this request, and which line of the config decides it" without
// sending anything anywhere.
//
// Why: a policy spread over shared filters, inherited roles, route
// patterns and path normalization is hard to read in one's head, and the
// audit log only says what happened after the fact. Explain compiles the
// config exactly as `run` does (the same engine.Compile, so JWK Sets and
// key files are read and tokens are really verified with the configured
// keys), normalizes and routes the path with the same router, and runs the
// route's identity and policy filters on a synthetic exchange, one at a
// time, recording each one's decision. The rbac filter names the rule
// behind its decision (rbac.Filter.Explain), so the answer points at a
// file:line:col.
//
// Invariants: nothing is forwarded and no connection is opened to an
// upstream. Filters whose decision depends on state or on the body — rate
// limiters, concurrency limits, body readers (size limits, JSON
// validation) — are reported as "not evaluated by explain", never run, so
// explain never consumes a rate-limit token. With --role (and no
// credential) the authentication filters are skipped and a verified
// principal carrying those roles stands in for whoever would have
// authenticated. A client certificate (--cert) is verified against each
// listener's client_ca as the TLS handshake does (client-auth usage,
// intermediates from the file, the current time), because the handshake,
// not a filter, is what refuses one no CA vouches for; mtlsauth then maps
// the verified certificate as on a real connection.
package explain
