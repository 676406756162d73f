package proxy_test

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
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
	for _, engine := range []string{"fasthttp", "gnet"} {
		t.Run(engine, func(t *testing.T) {
			up := e2etest.StartUpstream(t)
			cfg := fmt.Sprintf(sharedLimitConfig, engine, up.Addr, srv.Addr, "mode: lease, lease: 50, lease_ttl: 60s, on_store_error: allow", "", 6000)
			cfg = strings.Replace(strings.Replace(cfg, "timeout: 500ms", "timeout: 3s", 1), "dial_timeout: 200ms", "dial_timeout: 3s", 1) + `  - {name: plain, methods: [GET], path: /api/v1/customers, upstream: demo}
`
			p := startProxy(t, cfg)
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

			if err := syscall.Kill(srv.PID(), syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			resumed := false
			resume := func() {
				if !resumed {
					resumed = true
					_ = syscall.Kill(srv.PID(), syscall.SIGCONT)
				}
			}
			defer resume()
			// New clients have no lease: they wait for the frozen Redis.
			const waiting = 4
			done := make(chan int, waiting)
			for i := 0; i < waiting; i++ {
				go func() {
					c := &http.Client{Timeout: 10 * time.Second}
					req, _ := http.NewRequest("GET", p.base+"/api/v1/customers/1", nil)
					req.Header.Set("X-Client", fmt.Sprint("new-", engine, "-", i))
					resp, err := c.Do(req)
					if err != nil {
						done <- -1
						return
					}
					resp.Body.Close()
					done <- resp.StatusCode
				}()
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
			resume()
			for i := 0; i < waiting; i++ {
				select {
				case st := <-done:
					if st != 200 {
						t.Fatalf("waiting request ended with %d", st)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("waiting requests did not finish after Redis resumed")
				}
			}
			if got, want := up.Stats().Requests-before, uint64(sequential+2+waiting); got != want {
				t.Fatalf("upstream received %d requests, want %d", got, want)
			}
		})
	}
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
	for _, engine := range []string{"fasthttp", "gnet"} {
		t.Run(engine, func(t *testing.T) {
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
			get := func(delay string) {
				c := &http.Client{Timeout: 10 * time.Second}
				resp, err := c.Get(p.base + "/slow?delay=" + delay)
				if err != nil {
					done <- -1
					return
				}
				resp.Body.Close()
				done <- resp.StatusCode
			}
			go get("800ms")
			for deadline := time.Now().Add(3 * time.Second); up.Stats().Requests-before < 11; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the slow request did not reach the upstream")
				}
			}
			go get("0s")
			if got, want := waitOffLoop(t, p, offLoopWant(engine, 1)), offLoopWant(engine, 1); got != want {
				t.Fatalf("a request that must queue: %s = %d, want %d", offLoopSeries, got, want)
			}
			start := time.Now()
			if r := e2etest.Do(t, "GET", p.base+"/api/v1/customers", nil, ""); r.Status != 200 || time.Since(start) > 500*time.Millisecond {
				t.Fatalf("plain route while a request queues: %d after %v", r.Status, time.Since(start))
			}
			for i := 0; i < 2; i++ {
				select {
				case st := <-done:
					if st != 200 {
						t.Fatalf("slow or queued request ended with %d", st)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("slow or queued request did not finish")
				}
			}
			if got := up.Stats().Requests - before; got != 13 {
				t.Fatalf("upstream received %d requests, want 13", got)
			}
		})
	}
}
