package insight

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
)

func TestTopLists(t *testing.T) {
	s, c := newTestStats(t, Config{})
	c.t = t0.Add(30 * time.Second)
	s.feedAll(c, cat(
		repeat(5, time.Second, req{at: time.Second, principal: "alice", ip: "10.0.0.1", route: "/orders/{id}", latency: 3 * time.Millisecond}),
		repeat(3, time.Second, req{at: 2 * time.Second, principal: "bob", ip: "10.0.0.2", route: "/orders/{id}", status: 403, decision: auditlog.DecisionDenied}),
		repeat(2, time.Second, req{at: 3 * time.Second, principal: "carol", ip: "10.0.0.1", route: "/users", status: 502, decision: auditlog.DecisionUpstreamError, latency: 40 * time.Millisecond}),
		[]req{{at: 4 * time.Second, ip: "2001:db8::1", path: "/nope", status: 404, decision: auditlog.DecisionNotFound}},
	)...)
	snap, ok := s.Stats("1m", 60)
	if !ok {
		t.Fatal("window 1m not found")
	}
	f := func(dim string, want []Top) {
		t.Helper()
		if got := snap.Top[dim]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got  %+v\n want %+v", dim, got, want)
		}
	}
	f("endpoints", []Top{
		{Name: "/orders/{id}", Requests: 8, Errors: 3, ErrorRate: 3.0 / 8, P50Ms: 3.2, P90Ms: 3.2, P99Ms: 3.2},
		{Name: "/users", Requests: 2, Errors: 2, ErrorRate: 1, P50Ms: 51.2, P90Ms: 51.2, P99Ms: 51.2},
		{Name: "(none)", Requests: 1, Errors: 1, ErrorRate: 1, P50Ms: 1.6, P90Ms: 1.6, P99Ms: 1.6},
	})
	f("principals", []Top{
		{Name: "alice", Requests: 5, P50Ms: 3.2, P90Ms: 3.2, P99Ms: 3.2},
		{Name: "bob", Requests: 3, Errors: 3, ErrorRate: 1, P50Ms: 1.6, P90Ms: 1.6, P99Ms: 1.6},
		{Name: "carol", Requests: 2, Errors: 2, ErrorRate: 1, P50Ms: 51.2, P90Ms: 51.2, P99Ms: 51.2},
	})
	f("ips", []Top{
		{Name: "10.0.0.1", Requests: 7, Errors: 2, ErrorRate: 2.0 / 7, P50Ms: 3.2, P90Ms: 51.2, P99Ms: 51.2},
		{Name: "10.0.0.2", Requests: 3, Errors: 3, ErrorRate: 1, P50Ms: 1.6, P90Ms: 1.6, P99Ms: 1.6},
		{Name: "2001:db8::1", Requests: 1, Errors: 1, ErrorRate: 1, P50Ms: 1.6, P90Ms: 1.6, P99Ms: 1.6},
	})
	tot := snap.Totals
	if tot.Requests != 11 || tot.Errors != 6 || tot.Failures != 2 {
		t.Errorf("totals: got %d requests, %d errors, %d failures; want 11, 6, 2", tot.Requests, tot.Errors, tot.Failures)
	}
	wantClasses := map[string]uint64{"1xx": 0, "2xx": 5, "3xx": 0, "4xx": 4, "5xx": 2, "other": 0}
	if !reflect.DeepEqual(tot.Classes, wantClasses) {
		t.Errorf("classes: got %v, want %v", tot.Classes, wantClasses)
	}
	// Per-second series: second 1 holds alice's first request only; second 3
	// holds alice, bob and carol.
	start := t0.Unix() - 29
	if snap.Series.Start != start {
		t.Fatalf("series start: got %d, want %d", snap.Series.Start, start)
	}
	at := func(sec int) int { return int(t0.Unix()) + sec - int(start) }
	if got := snap.Series.Requests[at(1)]; got != 1 {
		t.Errorf("requests at second 1: got %d, want 1", got)
	}
	if got := snap.Series.Requests[at(3)]; got != 3 {
		t.Errorf("requests at second 3: got %d, want 3", got)
	}
	if got := snap.Series.Classes["5xx"][at(3)] + snap.Series.Classes["5xx"][at(4)]; got != 2 {
		t.Errorf("5xx at seconds 3 and 4: got %d, want 2", got)
	}
	if got := snap.Series.Failures[at(4)]; got != 1 {
		t.Errorf("failures at second 4: got %d, want 1", got)
	}
	if got := snap.Series.Classes["4xx"][at(4)]; got != 2 {
		t.Errorf("4xx at second 4: got %d, want 2", got)
	}
}

// TestSpaceSaving checks the Space-Saving replacement rule with two counters.
func TestSpaceSaving(t *testing.T) {
	s := newSummary(2)
	add := func(k uint64, n string) { s.add(k, []byte(n), false, 0) }
	add(1, "a")
	add(1, "a")
	add(1, "a")
	add(2, "b")
	add(3, "c") // evicts b (count 1): c gets count 2, over 1
	add(3, "c")
	add(4, "d") // a and c both have 3: the first minimum, a, is evicted
	type kc struct {
		key         uint64
		count, over uint32
		name        string
	}
	var got []kc
	for i, k := range s.keys {
		it := &s.items[i]
		got = append(got, kc{k, s.counts[i], it.over, string(it.name[:it.nlen])})
	}
	want := []kc{{4, 4, 3, "d"}, {3, 3, 1, "c"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestWindowExpiry(t *testing.T) {
	s, c := newTestStats(t, Config{})
	s.feedAll(c, repeat(4, time.Second, req{at: time.Second, principal: "p", route: "/a"})...)
	f := func(after time.Duration, window string, want uint64) {
		t.Helper()
		c.t = t0.Add(after)
		snap, ok := s.Stats(window, 60)
		if !ok {
			t.Fatalf("window %s not found", window)
		}
		var got uint64
		if l := snap.Top["endpoints"]; len(l) > 0 {
			got = l[0].Requests
		}
		if got != want {
			t.Errorf("at +%s window %s: top endpoint has %d requests, want %d", after, window, got, want)
		}
	}
	// Requests completed at +1s..+4s. The 1m window is 12 panes of 5s plus
	// the current one, so it keeps the pane [0s, 5s) until +65s.
	f(10*time.Second, "1m", 4)
	f(64*time.Second, "1m", 4)
	f(65*time.Second, "1m", 0)
	f(65*time.Second, "15m", 4)
	f(15*time.Minute+74*time.Second, "15m", 4) // panes of 75s: [0, 75s) kept until +16m15s
	f(16*time.Minute+15*time.Second, "15m", 0)
	f(16*time.Minute+15*time.Second, "1h", 4)
	f(65*time.Minute, "1h", 0)
	// The per-second totals cover exactly the window's last whole seconds.
	tot := func(after time.Duration, want uint64) {
		t.Helper()
		c.t = t0.Add(after)
		snap, _ := s.Stats("1m", 60)
		if snap.Totals.Requests != want {
			t.Errorf("1m totals at +%s: got %d, want %d", after, snap.Totals.Requests, want)
		}
	}
	tot(60*time.Second, 4)
	tot(61*time.Second, 3)
	tot(63*time.Second+999*time.Millisecond, 1)
	tot(64*time.Second, 0)
	if _, ok := s.Stats("2m", 60); ok {
		t.Error("window 2m found, want none")
	}
}

func TestBucketOf(t *testing.T) {
	f := func(d time.Duration, want int, wantMs float64) {
		t.Helper()
		if got := bucketOf(int64(d)); got != want {
			t.Errorf("bucketOf(%s) = %d, want %d", d, got, want)
		}
		if got := bucketBoundMs(want); got != wantMs {
			t.Errorf("bound(%d) = %v, want %v", want, got, wantMs)
		}
	}
	f(0, 0, 0.1)
	f(100*time.Microsecond, 0, 0.1)
	f(100*time.Microsecond+1, 1, 0.2)
	f(200*time.Microsecond, 1, 0.2)
	f(time.Millisecond, 4, 1.6)
	f(time.Hour, numBuckets-1, 52428.8)
}

func TestQuantile(t *testing.T) {
	var h hist
	if h.quantile(0.5) != 0 {
		t.Fatal("empty histogram quantile is not 0")
	}
	h[0], h[3], h[10] = 50, 40, 10
	f := func(q, want float64) {
		t.Helper()
		if got := h.quantile(q); got != want {
			t.Errorf("quantile(%v) = %v, want %v", q, got, want)
		}
	}
	f(0.5, 0.1)
	f(0.51, 0.8)
	f(0.9, 0.8)
	f(0.91, 102.4)
	f(0.99, 102.4)
}

// TestSummaryIndex checks, over a random stream with heavy eviction, that
// every tracked key is found through the index and no evicted key is.
func TestSummaryIndex(t *testing.T) {
	s := newSummary(16)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		k := uint64(rng.IntN(100)) * 0x9e3779b97f4a7c15 // spread and collide homes
		if i%7 == 0 {
			k = uint64(rng.IntN(4)) << 20 // a few keys sharing home slot 0
		}
		s.add(k, nil, false, 0)
		if i%500 == 0 {
			used := 0
			for _, v := range s.index {
				if v != 0 {
					used++
				}
			}
			if used != len(s.keys) {
				t.Fatalf("step %d: %d index entries for %d keys", i, used, len(s.keys))
			}
			for j, key := range s.keys {
				slot, ok := s.slotOf(key)
				if !ok || int(s.index[slot]-1) != j {
					t.Fatalf("step %d: key %d not found at %d", i, key, j)
				}
			}
		}
	}
	var sum uint64
	for _, c := range s.counts {
		sum += uint64(c)
	}
	if sum != 20000 {
		t.Fatalf("counts add up to %d, want 20000 (Space-Saving keeps the total)", sum)
	}
}
