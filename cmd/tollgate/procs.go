package main

// A processor for what the event loops do not run.
//
// The gnet engine's loops are goroutines that wait in epoll_wait. A
// goroutine in a system call keeps its processor (P) until the runtime's
// monitor takes it back, and the monitor checks less often the longer it
// finds nothing to do, down to every 10 ms. With as many Ps as loops,
// every other goroutine (the audit log's, those the loops start for work
// that may wait) can wait that long for a P, and a response that the event
// loop holds until its audit record is written waits with it.
//
// Measured 2026-12-06 on the 2-core machine, GOMAXPROCS set in the
// environment of scripts/bench.sh --targets
// tollgate-gnet,tollgate-gnet-audit-process --duration 8s --rounds 3, two
// runs at each setting alternated and two more at 3: the p99 with the
// audit log on was 5.8 and 10.1 ms at GOMAXPROCS=2 against 2.8–3.7 ms at
// 3, while the p99 with the log off stayed at 3.0–3.6 ms in both. CPU
// per request moved within the noise.
//
// So unless GOMAXPROCS is set in the environment (the operator's choice,
// kept as it is), run gives the scheduler one P more than it has when the
// event loops could hold them all.

// spareProcs returns the GOMAXPROCS to run with, given the event loops,
// the current GOMAXPROCS, and whether the environment sets it.
func spareProcs(loops, procs int, set bool) int {
	if set || loops == 0 || loops < procs {
		return procs
	}
	return procs + 1
}
