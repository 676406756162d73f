// Package filters is the seam between Tollgate's network engines and the
// policy it enforces. It defines the per-request Exchange that every filter
// sees, the Verdict a filter returns, and the Chain that runs filters in order.
//
// Why a package of its own: a second engine (gnet) must drive the very same
// compiled chains as the fasthttp engine, and the filters (token
// verification, RBAC, rate limiting, JSON validation) must be testable
// without any listener. So this package imports no engine and no HTTP
// library; engines adapt their request objects to the small Headers
// interface and fill the Exchange's fields.
//
// Hot-path rules: a Filter's Handle must not block, allocate, keep the
// Exchange after returning, or touch it from another goroutine. Refusals are
// values (Respond(status, reason)) whose problem+json bodies are rendered
// once, when the Reason is declared, so the deny path allocates nothing.
package filters
