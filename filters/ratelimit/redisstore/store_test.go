package redisstore_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/filters/ratelimit"
	"github.com/tollgate-proxy/tollgate/filters/ratelimit/redisstore"
	"github.com/tollgate-proxy/tollgate/internal/testredis"
)

func newStore(t *testing.T, o redisstore.Options) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestScriptMatchesLocalGCRA runs the same random sequence of requests
// through the local limiter and the Lua script, on the same clock, and
// wants the same decision and the same TAT every time: the script is the
// local arithmetic, moved into Redis.
func TestScriptMatchesLocalGCRA(t *testing.T) {
	srv := testredis.Start(t)
	s := newStore(t, redisstore.Options{Addresses: []string{srv.Addr}, Timeout: time.Second})
	ctx := context.Background()
	cases := []struct {
		rate  int64
		per   time.Duration
		burst int64
	}{{10, time.Second, 10}, {10, time.Second, 3}, {100, time.Minute, 100}, {7, 3 * time.Second, 1}, {1000, time.Second, 50}}
	for ci, c := range cases {
		t.Run(strconv.Itoa(ci), func(t *testing.T) {
			lim, err := ratelimit.NewLimiter(ratelimit.LimiterConfig{Rate: c.rate, Per: c.per, Burst: c.burst, MaxKeys: 1})
			if err != nil {
				t.Fatal(err)
			}
			T, tau := lim.Interval().Microseconds(), lim.Tolerance().Microseconds()
			rng := rand.New(rand.NewPCG(uint64(ci), 1))
			key := "test:{gcra-" + strconv.Itoa(ci) + "}"
			now := int64(1_700_000_000_000_000) // Redis's clock is Unix µs
			base := now
			allowed, refused := 0, 0
			for i := 0; i < 400; i++ {
				if rng.IntN(2) == 0 {
					now += rng.Int64N(2 * T) // else a burst: same instant
				}
				if rng.IntN(100) == 0 {
					now += rng.Int64N(tau + 1)
				}
				n := int64(1)
				if rng.IntN(4) == 0 {
					n = 1 + rng.Int64N(5) // a lease: up to n
				}
				// Local: n single takes, stopping at the first refusal.
				var want int64
				var last ratelimit.Result
				for j := int64(0); j < n; j++ {
					r := lim.Take(42, now-base, true)
					last = r
					if !r.Allowed {
						break
					}
					want++
				}
				got, err := s.TakeAt(ctx, key, T, tau, n, now)
				if err != nil {
					t.Fatal(err)
				}
				if got.Granted != want || got.TATAfter != last.TAT-last.Now && want > 0 {
					t.Fatalf("step %d (n=%d, now=+%dµs): script granted %d, TAT-now %d; local granted %d, TAT-now %d",
						i, n, now-base, got.Granted, got.TATAfter, want, last.TAT-last.Now)
				}
				if want == 0 && got.TATAfter != max(last.TAT-last.Now, 0) {
					t.Fatalf("step %d: refusal TAT-now %d, local %d", i, got.TATAfter, last.TAT-last.Now)
				}
				if want > 0 {
					allowed++
				} else {
					refused++
				}
			}
			if allowed == 0 || refused == 0 {
				t.Fatalf("sequence too tame: %d allowed, %d refused", allowed, refused)
			}
		})
	}
}

// TestRefund gives one request back and wants the next to fit again.
func TestRefund(t *testing.T) {
	srv := testredis.Start(t)
	s := newStore(t, redisstore.Options{Addresses: []string{srv.Addr}})
	ctx := context.Background()
	T, tau := int64(100_000), int64(300_000) // 10/s, burst 3
	for i := 0; i < 3; i++ {
		if r, err := s.Take(ctx, "test:{refund}", T, tau, 1); err != nil || r.Granted != 1 {
			t.Fatalf("take %d: %+v %v", i, r, err)
		}
	}
	if r, _ := s.Take(ctx, "test:{refund}", T, tau, 1); r.Granted != 0 {
		t.Fatalf("fourth take admitted: %+v", r)
	}
	if _, err := s.Take(ctx, "test:{refund}", T, tau, -1); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Take(ctx, "test:{refund}", T, tau, 1); r.Granted != 1 {
		t.Fatalf("take after refund refused: %+v", r)
	}
	// The key expires with its TAT: nothing is left behind.
	if ttl, _ := srv.CLI("PTTL", "test:{refund}"); ttl == "-1\n" {
		t.Fatalf("key has no expiry")
	}
}

// TestBreaker kills Redis and wants one failed call, then ErrOpen without
// calling Redis until the interval has passed, then a probe that recovers
// once Redis is back.
func TestBreaker(t *testing.T) {
	srv := testredis.Start(t)
	interval := 300 * time.Millisecond
	s := newStore(t, redisstore.Options{Addresses: []string{srv.Addr}, Timeout: 200 * time.Millisecond, DialTimeout: 200 * time.Millisecond, BreakerInterval: interval})
	ctx := context.Background()
	T, tau := int64(1000), int64(1_000_000)
	if _, err := s.Take(ctx, "test:{b}", T, tau, 1); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	_, err := s.Take(ctx, "test:{b}", T, tau, 1)
	if err == nil || errors.Is(err, redisstore.ErrOpen) {
		t.Fatalf("first call after the kill: %v, want a network error", err)
	}
	start := time.Now()
	for i := 0; i < 1000; i++ {
		if _, err := s.Take(ctx, "test:{b}", T, tau, 1); !errors.Is(err, redisstore.ErrOpen) {
			t.Fatalf("call %d while open: %v, want ErrOpen", i, err)
		}
	}
	if d := time.Since(start); d > interval/2 {
		t.Fatalf("1000 calls with the breaker open took %v: they must not wait for Redis", d)
	}
	srv.Restart()
	deadline := time.Now().Add(interval + 3*time.Second)
	for {
		_, err := s.Take(ctx, "test:{b}", T, tau, 1)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery within the breaker interval after restart: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s.Open() {
		t.Fatalf("breaker still open after a successful call")
	}
}

// TestStartWhileDown builds a store against a closed port: New succeeds
// (the proxy must start), calls fail and trip the breaker.
func TestStartWhileDown(t *testing.T) {
	testredis.Need(t)
	s := newStore(t, redisstore.Options{Addresses: []string{"127.0.0.1:1"}, DialTimeout: 100 * time.Millisecond, BreakerInterval: time.Hour})
	if _, err := s.Take(context.Background(), "k", 1, 1, 1); err == nil {
		t.Fatal("call to a closed port succeeded")
	}
	if _, err := s.Take(context.Background(), "k", 1, 1, 1); !errors.Is(err, redisstore.ErrOpen) {
		t.Fatalf("second call: %v, want ErrOpen", err)
	}
}

// TestCluster runs decisions on a three-node Redis Cluster: keys of many
// identities land on every node and each is decided atomically.
func TestCluster(t *testing.T) {
	c := testredis.StartCluster(t, 3)
	s := newStore(t, redisstore.Options{Addresses: c.Addrs()[:1], Timeout: time.Second})
	ctx := context.Background()
	T, tau := int64(1_000_000), int64(5_000_000) // 1/s, burst 5
	for k := 0; k < 30; k++ {
		key := "test:{id-" + strconv.Itoa(k) + "}"
		for i := 0; i < 7; i++ {
			r, err := s.Take(ctx, key, T, tau, 1)
			if err != nil {
				t.Fatal(err)
			}
			if want := i < 5; (r.Granted == 1) != want {
				t.Fatalf("key %d request %d: granted %d", k, i, r.Granted)
			}
		}
	}
	for i, n := range c.Nodes {
		if len(n.Keys("test:*")) == 0 {
			t.Errorf("node %d holds no keys: the cluster is not spreading them", i)
		}
	}
}
