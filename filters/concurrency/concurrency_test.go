package concurrency

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// TestSurge sends a burst of concurrent clients through a slow upstream:
// the upstream never sees more than max_concurrent at once, every request
// is either served or shed with a throttle reason, and the queue drains.
func TestSurge(t *testing.T) {
	const limit, clients, rounds = 4, 32, 5
	f := newTestFilter(t, `{max_concurrent: 4, max_queue: 8, queue_timeout: 30ms}`)
	chain := filters.NewChain(f)
	var cur, peak, served, full, timedOut atomic.Int64
	upstream := func() {
		n := cur.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(2 * time.Millisecond) // slow backend
		cur.Add(-1)
	}
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				v := run(chain, upstream)
				switch {
				case v.IsContinue():
					served.Add(1)
				case v.Reason().Code == CodeQueueFull:
					full.Add(1)
				case v.Reason().Code == CodeQueueTimeout:
					timedOut.Add(1)
				default:
					t.Errorf("unexpected verdict %+v", v.Reason())
				}
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > limit {
		t.Fatalf("upstream saw %d concurrent requests, limit %d", p, limit)
	}
	if served.Load()+full.Load()+timedOut.Load() != clients*rounds {
		t.Fatalf("served %d + full %d + timeout %d != %d", served.Load(), full.Load(), timedOut.Load(), clients*rounds)
	}
	if served.Load() == 0 || full.Load() == 0 {
		t.Fatalf("a surge of %d clients on %d slots: served %d, shed %d", clients, limit, served.Load(), full.Load())
	}
	st := f.Stats()
	if st.InFlight != 0 || st.Queued != 0 {
		t.Fatalf("after the surge: in flight %d, queued %d", st.InFlight, st.Queued)
	}
	if st.ShedQueueFull != uint64(full.Load()) || st.ShedTimeout != uint64(timedOut.Load()) {
		t.Fatalf("stats %+v disagree with full %d timeout %d", st, full.Load(), timedOut.Load())
	}
	if st.WaitCumulative[len(st.WaitCumulative)-1] != st.Waited {
		t.Fatalf("histogram total %d != waited %d", st.WaitCumulative[len(st.WaitCumulative)-1], st.Waited)
	}
}

// hold takes a slot and returns the exchange holding it.
func hold(t *testing.T, f *Filter) *filters.Exchange {
	t.Helper()
	ex := filters.AcquireExchange()
	if !f.Handle(ex).IsContinue() {
		t.Fatal("no free slot")
	}
	return ex
}

func TestQueueTimeout(t *testing.T) {
	f := newTestFilter(t, `{max_concurrent: 1, max_queue: 4, queue_timeout: 50ms, retry_after: 3s}`)
	holder := hold(t, f)
	ex := filters.AcquireExchange()
	defer filters.ReleaseExchange(ex)
	start := time.Now()
	v := f.Handle(ex)
	waited := time.Since(start)
	if v.IsContinue() || v.Reason().Code != CodeQueueTimeout || v.Reason().Status != 503 || v.Reason().Decision != filters.DecisionThrottled {
		t.Fatalf("verdict = %+v", v.Reason())
	}
	if waited < 50*time.Millisecond || waited > 2*time.Second {
		t.Fatalf("waited %v for a 50ms queue timeout", waited)
	}
	if got := respHeader(ex, "Retry-After"); got != "3" {
		t.Fatalf("Retry-After = %q", got)
	}
	// The chain finishes the refused request too: that must not free the
	// holder's slot.
	ex.Refuse(v.Reason())
	f.Finish(ex)
	if st := f.Stats(); st.InFlight != 1 || st.Queued != 0 || st.ShedTimeout != 1 {
		t.Fatalf("stats = %+v", st)
	}
	f.Finish(holder)
	filters.ReleaseExchange(holder)
	if st := f.Stats(); st.InFlight != 0 {
		t.Fatalf("in flight %d after release", st.InFlight)
	}
}

func TestQueueFullAndHandOver(t *testing.T) {
	f := newTestFilter(t, `{max_concurrent: 1, max_queue: 1, queue_timeout: 5s}`)
	holder := hold(t, f)
	// One waiter fills the queue.
	got := make(chan filters.Verdict, 1)
	go func() {
		ex := filters.AcquireExchange()
		v := f.Handle(ex)
		got <- v
		if v.IsContinue() {
			f.Finish(ex)
		}
		filters.ReleaseExchange(ex)
	}()
	for i := 0; f.Stats().Queued != 1; i++ {
		if i > 5000 {
			t.Fatal("waiter never queued")
		}
		time.Sleep(time.Millisecond)
	}
	// The next is shed at once.
	ex := filters.AcquireExchange()
	start := time.Now()
	v := f.Handle(ex)
	if v.IsContinue() || v.Reason().Code != CodeQueueFull || time.Since(start) > time.Second {
		t.Fatalf("verdict %+v after %v", v.Reason(), time.Since(start))
	}
	if respHeader(ex, "Retry-After") != "1" {
		t.Fatalf("Retry-After = %q", respHeader(ex, "Retry-After"))
	}
	filters.ReleaseExchange(ex)
	// Releasing the holder hands its slot to the waiter.
	f.Finish(holder)
	filters.ReleaseExchange(holder)
	select {
	case v := <-got:
		if !v.IsContinue() {
			t.Fatalf("waiter refused: %+v", v.Reason())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not woken")
	}
	for i := 0; f.Stats().InFlight != 0; i++ {
		if i > 5000 {
			t.Fatal("slot not released")
		}
		time.Sleep(time.Millisecond)
	}
	if st := f.Stats(); st.Waited != 1 || st.ShedQueueFull != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

// deny refuses every request, like an authorization filter after ours.
type deny struct{ r *filters.Reason }

func (d deny) Name() string                             { return "deny" }
func (d deny) Handle(*filters.Exchange) filters.Verdict { return filters.Respond(d.r) }

func TestFinishOnEveryPath(t *testing.T) {
	f := newTestFilter(t, `{max_concurrent: 2, max_queue: 0}`)
	// Refused by a later filter: the slot is released.
	refused := filters.NewChain(f, deny{filters.NewReason("authz.denied", 403, filters.DecisionDenied, "no")})
	for i := 0; i < 10; i++ {
		if v := run(refused, nil); v.IsContinue() {
			t.Fatal("deny filter let it through")
		}
	}
	if n := f.Stats().InFlight; n != 0 {
		t.Fatalf("in flight %d after later refusals", n)
	}
	// A second concurrency filter in the chain sheds: ours must release.
	inner := newTestFilter(t, `{max_concurrent: 1, max_queue: 0}`)
	chain := filters.NewChain(f, inner)
	held := filters.AcquireExchange()
	if !inner.Handle(held).IsContinue() {
		t.Fatal("inner slot")
	}
	for i := 0; i < 10; i++ {
		v := run(chain, nil)
		if v.IsContinue() || v.Reason().Code != CodeQueueFull {
			t.Fatalf("verdict %+v", v.Reason())
		}
	}
	if n := f.Stats().InFlight; n != 0 {
		t.Fatalf("outer in flight %d after the inner filter shed", n)
	}
	inner.Finish(held)
	filters.ReleaseExchange(held)
	// max_queue 0: shed immediately when full.
	a, b := hold(t, f), hold(t, f)
	ex := filters.AcquireExchange()
	if v := f.Handle(ex); v.IsContinue() || v.Reason().Code != CodeQueueFull {
		t.Fatal("third request not shed")
	}
	filters.ReleaseExchange(ex)
	f.Finish(a)
	f.Finish(b)
	if n := f.Stats().InFlight; n != 0 {
		t.Fatalf("in flight %d", n)
	}
}

// TestFIFO: waiters are served in arrival order, and a newcomer does not
// overtake them when a slot is handed over.
func TestFIFO(t *testing.T) {
	f := newTestFilter(t, `{max_concurrent: 1, max_queue: 3, queue_timeout: 10s}`)
	holder := hold(t, f)
	order := make(chan int, 3)
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ex := filters.AcquireExchange()
			defer filters.ReleaseExchange(ex)
			if !f.Handle(ex).IsContinue() {
				t.Error("waiter refused")
				return
			}
			order <- i
			f.Finish(ex)
		}()
		for j := 0; f.Stats().Queued != int64(i+1); j++ {
			if j > 5000 {
				t.Fatal("waiter never queued")
			}
			time.Sleep(time.Millisecond)
		}
	}
	f.Finish(holder)
	// The slot went to waiter 0, so a newcomer finds none.
	if f.tryAcquire() {
		t.Fatal("a newcomer overtook the queue")
	}
	wg.Wait()
	close(order)
	want := 0
	for i := range order {
		if i != want {
			t.Fatalf("served %d, want %d", i, want)
		}
		want++
	}
}

// TestOtherRoutesStayResponsive: a saturated filter does not slow a chain
// without it.
func TestOtherRoutesStayResponsive(t *testing.T) {
	f := newTestFilter(t, `{max_concurrent: 1, max_queue: 64, queue_timeout: 200ms}`)
	busy := filters.NewChain(f)
	other := filters.NewChain()
	holder := hold(t, f)
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); run(busy, nil) }()
	}
	start := time.Now()
	for i := 0; i < 1000; i++ {
		if !run(other, nil).IsContinue() {
			t.Fatal("other route refused")
		}
	}
	if d := time.Since(start); d > 150*time.Millisecond {
		t.Fatalf("other route took %v for 1000 requests while the busy one queued", d)
	}
	f.Finish(holder)
	filters.ReleaseExchange(holder)
	wg.Wait()
	if n := f.Stats().InFlight; n != 0 {
		t.Fatalf("in flight %d", n)
	}
}

func TestConfig(t *testing.T) {
	f := newTestFilter(t, `{max_concurrent: 8}`)
	if f.limit != 8 || f.maxQueue != 8 || f.timeout != time.Second || string(f.retryAfter) != "1" || f.Name() != "concurrency" {
		t.Fatalf("defaults: %+v", f)
	}
	if _, err := New(testSpec(`{max_concurent: 1}`)); err == nil || !strings.Contains(err.Error(), "max_concurent") {
		t.Fatalf("unknown key accepted: %v", err)
	}
}

// TestConfigErrorPositions wants every problem of the block at once, one
// per line, each at the line:col of the setting it names; an absent
// required setting is at the block.
func TestConfigErrorPositions(t *testing.T) {
	f := func(src string, wants ...string) {
		t.Helper()
		_, err := New(testSpec(src))
		filtertest.CheckErrors(t, err, "concurrency", wants...)
	}
	f(`{}`, `1:1 max_concurrent: want 1 to 1048576, got 0`)
	f(`{max_concurrent: 0}`, `1:18 max_concurrent: want 1 to 1048576, got 0`)
	f(`{max_concurrent: 1, max_queue: -1}`, `1:32 max_queue: want 0 to 1048576, got -1`)
	f(`{max_concurrent: 1, queue_timeout: 1h}`, `1:36 queue_timeout: want at most 5m0s, got 1h0m0s`)
	f(`{max_concurrent: 1, retry_after: 1500ms}`, `1:34 retry_after: want a whole number of seconds (Retry-After has no fractions), got 1.5s`)
	// The default queue follows max_concurrent: one problem, one error.
	f(`{max_concurrent: 2000000}`, `1:18 max_concurrent: want 1 to 1048576, got 2000000`)
	f(`
max_concurrent: 0
max_queue: 2000000
queue_timeout: 10m
retry_after: 2500ms
`,
		`2:17 max_concurrent: want 1 to 1048576, got 0`,
		`3:12 max_queue: want 0 to 1048576, got 2000000`,
		`4:16 queue_timeout: want at most 5m0s, got 10m0s`,
		`5:14 retry_after: want a whole number of seconds (Retry-After has no fractions), got 2.5s`)

	// A decode error does not hide the checks of what decoded.
	_, err := New(testSpec("max_concurrent: 0\nmax_queues: 1\n"))
	if err == nil || !strings.Contains(err.Error(), "max_queues") || !strings.Contains(err.Error(), `test.yaml:1:17: filter "concurrency": max_concurrent: want 1`) {
		t.Errorf("error\n%v\nwant the unknown key and max_concurrent", err)
	}
}

func TestMetrics(t *testing.T) {
	f := newTestFilter(t, `{max_concurrent: 2, max_queue: 0}`)
	a, b := hold(t, f), hold(t, f)
	ex := filters.AcquireExchange()
	f.Handle(ex)
	filters.ReleaseExchange(ex)
	f.observeWait(3 * time.Millisecond)
	var buf strings.Builder
	f.Metrics().WritePrometheus(&buf)
	for _, want := range []string{
		`tollgate_concurrency_limit{route="r"} 2`,
		`tollgate_concurrency_in_flight{route="r"} 2`,
		`tollgate_concurrency_queue_depth{route="r"} 0`,
		`tollgate_concurrency_shed_total{route="r",reason="throttle.queue_full"} 1`,
		`tollgate_concurrency_shed_total{route="r",reason="throttle.queue_timeout"} 0`,
		`tollgate_concurrency_queue_wait_seconds_bucket{route="r",le="0.005"} 1`,
		`tollgate_concurrency_queue_wait_seconds_count{route="r"} 1`,
	} {
		if !strings.Contains(buf.String(), want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, buf.String())
		}
	}
	f.Finish(a)
	f.Finish(b)
}
