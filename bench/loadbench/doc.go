// Command loadbench compares Tollgate with nginx, HAProxy and Caddy in front
// of the same demo upstream, and with no proxy at all ("direct").
//
// It exists so that every performance claim comes from one reproducible run
// on one machine: each proxy is started from a config written into a fresh
// temporary directory, on its own free 127.0.0.1 port, driven by wrk with the
// same threads, connections and duration, in at least two rounds whose order
// alternates, so that drift (thermal, noisy neighbours) does not favour the
// target that happens to run first.
//
// Per target it measures requests per second, latency percentiles (p50, p99)
// from wrk's own histogram, the proxy's CPU time per request (utime plus
// stime over its whole process tree, from /proc/PID/stat, before and after
// each measured run) and its peak resident set (VmHWM summed over the tree),
// and reports each as a median over rounds with ratios to "direct", to
// nginx and to HAProxy running its nearest equivalent of Tollgate's full
// pipeline, each from the same run and of the same request method (a POST
// row is compared with the POST peers).
//
// With --idle N it measures memory instead of load: each target in turn,
// started alone, holds N idle keep-alive connections (one request each,
// from a client with no goroutine per connection), and the report gives its
// process tree's RSS before and with them, the KiB per connection and the
// ratios to nginx (idle.go).
//
// Invariants: loadbench builds nothing (it takes --tollgate BIN); it only
// binds and targets loopback addresses; every load run is bounded in time;
// every process it starts is in its own process group and is stopped on
// exit, error or interrupt.
//
// Targets are rows of a table (targets.go): a new Tollgate row, such as one
// with JWT and RBAC filters, is one more entry with its own config template
// and request. Presets name sets of rows, such as "pipeline", the full
// pipeline comparison.
package main
