// Package redisstore keeps GCRA state in Redis, so that several Tollgate
// instances behind one load balancer enforce one rate limit between them
// instead of one each.
//
// Why a script: a GCRA decision reads the key's theoretical arrival time
// (TAT), compares it with now and writes it back. Done as GET then SET from
// the proxy, two instances could read the same TAT and both admit. The
// script (gcra.lua) runs atomically inside Redis, reads the time from
// Redis's own clock (TIME, so the instances' clocks never have to agree)
// and costs one round trip per decision: EVALSHA, with EVAL sent once when
// the server does not know the script yet (after a restart, on a new
// cluster node).
//
// The arithmetic is the local limiter's (package ratelimit): emission
// interval T, tolerance τ = burst × T; n requests at now are admitted iff
// max(TAT, now) + n·T − now ≤ τ. A lease asks for up to n and is granted
// as many as fit, at least one or none. State is the TAT alone, in
// microseconds of the Redis clock, and the key expires when the TAT is
// reached: an idle key costs Redis nothing.
//
// Keys are chosen by the caller; the ratelimit filter puts the whole
// identity inside one hash tag ({…}), so that in Redis Cluster a key maps to
// exactly one slot and a decision never crosses nodes.
//
// Failure handling: a Store has a circuit breaker. After a failed call it
// refuses to call Redis for the breaker interval (ErrOpen, at no cost);
// then one call is let through as a probe, and the breaker closes when it
// succeeds. A dead Redis so costs one failed attempt per interval, not one
// per request. The client is made on first use, not in New, so a proxy
// starts while Redis is down; rueidis reconnects on its own afterwards.
package redisstore
