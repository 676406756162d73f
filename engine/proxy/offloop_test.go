package proxy_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
	"github.com/tollgate-proxy/tollgate/internal/testredis"
)

// offLoopSeries counts the chain parts the gnet engine ran off its event
// loop because a filter had to wait.
const offLoopSeries = "tollgate_gnet_offloop_total"

// waitOffLoop polls p's off-loop counter until it reaches want (or a
// bounded deadline passes) and returns the last value seen.
func waitOffLoop(t *testing.T, p *testProxy, want int) int {
	t.Helper()
	got := 0
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got = metricValue(t, metricsOf(t, p), offLoopSeries); got >= want {
			break
		}
	}
	return got
}

// offLoopWant is what the off-loop counter must read on engine: the gnet
// engine counts n, the fasthttp engine (a goroutine per connection, which
// may wait) never leaves anything.
func offLoopWant(engine string, n int) int {
	if engine == "gnet" {
		return n
	}
	return 0
}

// TestHeldLeaseDecidedOnTheLoop wants a request of a lease-mode shared
// limit that spends a lease the instance holds decided on the event loop,
// and one that must lease a batch run off it: with Redis frozen
// (SIGSTOP), new clients wait off the loop while a client holding a lease
// is still answered at once on the same route, as is a route without the
// limit. Every admitted request reaches the upstream.
func TestHeldLeaseDecidedOnTheLoop(t *testing.T) {
	srv := testredis.Start(t)
	eachEngine(t, func(t *testing.T, engine string) {
		up := e2etest.StartUpstream(t)
		p := startProxy(t, patientSharedLimitConfig(engine, up.Addr, srv.Addr, "mode: lease, lease: 50, lease_ttl: 60s, on_store_error: allow", 6000))
		before := up.Stats().Requests
		held := map[string]string{"X-Client": "held-" + engine}
		// The first request leases a batch (off the loop); the next
		// ones spend it on the loop.
		const sequential = 20
		for i := 0; i < sequential; i++ {
			if r := e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", held, ""); r.Status != 200 {
				t.Fatalf("request %d: %d %s", i, r.Status, r.Body)
			}
		}
		if got, want := waitOffLoop(t, p, offLoopWant(engine, 1)), offLoopWant(engine, 1); got != want {
			t.Fatalf("%d requests with a held lease: %s = %d, want %d (only the first leases)", sequential, offLoopSeries, got, want)
		}
		if got := up.Stats().Requests - before; got != sequential {
			t.Fatalf("upstream received %d requests, want %d", got, sequential)
		}

		resume := freezeRedis(t, srv)
		frozen := time.Now()
		// New clients have no lease: they wait for the frozen Redis.
		const waiting = 4
		done := make(chan int, waiting)
		for i := 0; i < waiting; i++ {
			getInBackground(done, p.base+"/api/v1/customers/1", map[string]string{"X-Client": fmt.Sprint("new-", engine, "-", i)})
		}
		if got, want := waitOffLoop(t, p, offLoopWant(engine, 1+waiting)), offLoopWant(engine, 1+waiting); got != want {
			t.Fatalf("%d clients without a lease: %s = %d, want %d", waiting, offLoopSeries, got, want)
		}
		for _, c := range []struct {
			path string
			hdr  map[string]string
		}{{"/api/v1/customers/1", held}, {"/api/v1/customers", nil}} {
			start := time.Now()
			r := e2etest.Do(t, "GET", p.base+c.path, c.hdr, "")
			if took := time.Since(start); r.Status != 200 || took > time.Second {
				t.Fatalf("GET %s while Redis is frozen: %d after %v", c.path, r.Status, took)
			}
		}
		if got, want := metricValue(t, metricsOf(t, p), offLoopSeries), offLoopWant(engine, 1+waiting); got != want {
			t.Fatalf("after the held-lease request: %s = %d, want %d", offLoopSeries, got, want)
		}
		// The clients without a lease are still waiting: Redis is frozen
		// (they would be answered at once otherwise, and only the 3 s
		// decision timeout lets them go without it).
		if n := len(done); n != 0 && time.Since(frozen) < 2500*time.Millisecond {
			t.Fatalf("%d of %d clients without a lease were answered while Redis was frozen", n, waiting)
		}
		resume()
		awaitStatuses(t, done, waiting, "a request waiting for Redis")
		if got, want := up.Stats().Requests-before, uint64(sequential+2+waiting); got != want {
			t.Fatalf("upstream received %d requests, want %d", got, want)
		}
	})
}

// concurrencyOffLoopConfig is a route limited to one request at a time
// with a queue, and a route without a limit: %[1]s engine, %[2]s upstream.
const concurrencyOffLoopConfig = `
log: {level: warn}
admin: {listen: 127.0.0.1:0}
listeners: [{name: public, listen: 127.0.0.1:0, engine: %[1]s}]
upstreams: [{name: demo, targets: [%[2]s], timeout: 5s}]
routes:
  - name: guarded
    methods: [GET]
    path: /slow
    upstream: demo
    filters:
      - name: concurrency
        config: {max_concurrent: 1, max_queue: 4, queue_timeout: 5s}
  - {name: plain, methods: [GET], path: /api/v1/customers, upstream: demo}
`

// TestFreeSlotDecidedOnTheLoop wants a request that finds a free
// concurrency slot admitted on the event loop, and one that must queue
// moved off it, while the loop keeps answering other routes.
func TestFreeSlotDecidedOnTheLoop(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		up := e2etest.StartUpstream(t)
		p := startProxy(t, fmt.Sprintf(concurrencyOffLoopConfig, engine, up.Addr))
		before := up.Stats().Requests
		for i := 0; i < 10; i++ {
			if r := e2etest.Do(t, "GET", p.base+"/slow?delay=0s", nil, ""); r.Status != 200 {
				t.Fatalf("request %d: %d %s", i, r.Status, r.Body)
			}
		}
		if got := metricValue(t, metricsOf(t, p), offLoopSeries); got != 0 {
			t.Fatalf("10 requests with a free slot: %s = %d, want 0", offLoopSeries, got)
		}
		// One request holds the slot; the next must queue.
		done := make(chan int, 2)
		getInBackground(done, p.base+"/slow?delay=800ms", nil)
		waitFor(t, "the slow request to reach the upstream", 3*time.Second, func() bool { return up.Stats().Requests-before >= 11 })
		getInBackground(done, p.base+"/slow?delay=0s", nil)
		if got, want := waitOffLoop(t, p, offLoopWant(engine, 1)), offLoopWant(engine, 1); got != want {
			t.Fatalf("a request that must queue: %s = %d, want %d", offLoopSeries, got, want)
		}
		start := time.Now()
		if r := e2etest.Do(t, "GET", p.base+"/api/v1/customers", nil, ""); r.Status != 200 || time.Since(start) > 500*time.Millisecond {
			t.Fatalf("plain route while a request queues: %d after %v", r.Status, time.Since(start))
		}
		awaitStatuses(t, done, 2, "the slow or the queued request")
		if got := up.Stats().Requests - before; got != 13 {
			t.Fatalf("upstream received %d requests, want 13", got)
		}
	})
}
