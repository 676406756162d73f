// Package pipeline is everything Tollgate does to a request between "a
// parsed request head" and "bytes to write", written once for every engine.
//
// An engine (engine/gnetengine, the event loop; engine/fasthttpengine, a
// goroutine per connection) owns sockets, parsing and scheduling. For each
// request it hands the pipeline the parsed head and calls, in order:
//
//	Begin       strict head checks, request id, client address, shedding,
//	            path normalization, route lookup, duplicate credentials,
//	            client copies of the route's identity headers deleted,
//	            the body limit
//	Filter      the route's filter chain, behind a recovery boundary
//	Admit       the audit gate: fail-closed refusal, strict-mode decision
//	            record (blocking, or acknowledged later on a loop)
//	PrepareUpstream  the request head the upstream gets: normalized target,
//	            HTTP/1.1, hop-by-hop fields removed, the upstream's
//	            remove_headers and set_headers, X-Forwarded-*, X-Request-Id
//	PrepareResponse  the response head the client gets, response filters
//	WriteProblem     a refusal's problem+json answer
//	End, Leave  Finish hooks, the audit record, per-route metrics
//
// Why one package: the two engines once each carried their own copy of
// this sequence and drifted apart — one of them forwarded headers the
// config strips, another answered requests with an unknown HTTP version.
// Behaviour that lives here cannot differ between engines; a test that
// finds a difference has found a bug in an engine's socket handling, not
// in two policies.
//
// Heads are fasthttp's RequestHeader and ResponseHeader on both engines
// (the event loop parses into them too), so the pipeline rewrites them in
// place without a second representation. Nothing here allocates per
// request in the steady state: state lives in the pooled Request each
// engine embeds in its own per-request object.
package pipeline
