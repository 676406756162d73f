// Package engine turns a validated configuration into an immutable Runtime
// — compiled routes, filter chains, upstream pools and metrics — that the
// request pipeline (engine/pipeline) serves requests from, for both network
// front ends (engine/gnetengine, engine/fasthttpengine).
//
// Why a compiled, immutable snapshot: reloading on SIGHUP must be atomic.
// A request acquires the current Runtime once and uses only it, so in-flight
// requests finish on the configuration they started with while new ones see
// the new one; a Runtime's filter chains and pools are closed only when it
// has been replaced and its last request has finished.
package engine
