package insight

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeCluster counts its queries and answers with the window asked, or
// with err.
type fakeCluster struct {
	calls atomic.Int64
	mu    sync.Mutex
	err   error
	delay time.Duration
}

func (f *fakeCluster) ClusterStats(ctx context.Context, window time.Duration) (any, error) {
	f.calls.Add(1)
	f.mu.Lock()
	err, delay := f.err, f.delay
	f.mu.Unlock()
	select {
	case <-time.After(delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"window_seconds": window.Seconds()}, nil
}

func get(t *testing.T, url string) (int, string, string) {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return r.StatusCode, r.Header.Get("Content-Type"), string(b)
}

// TestClusterEndpoint checks /api/cluster's answers: not configured, bad
// windows, the cache that keeps refreshes off the database, and an error
// object when the source fails — while /api/stats keeps answering.
func TestClusterEndpoint(t *testing.T) {
	t.Run("not configured", func(t *testing.T) {
		s := New(Config{}, nil)
		t.Cleanup(func() { _ = s.Close() })
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(srv.Close)
		code, ct, body := get(t, srv.URL+"/api/cluster")
		if code != 404 || ct != "application/problem+json" || !strings.Contains(body, `"reason":"cluster.not_configured"`) {
			t.Errorf("got %d %s %s", code, ct, body)
		}
	})

	s := New(Config{}, nil)
	t.Cleanup(func() { _ = s.Close() })
	src := &fakeCluster{}
	s.SetCluster(src)
	var clock atomic.Int64
	clock.Store(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	s.cluster.now = func() time.Time { return time.Unix(0, clock.Load()) }
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)

	f := func(query string, wantCode int, wantCT, wantBody string) {
		t.Helper()
		code, ct, body := get(t, srv.URL+"/api/cluster"+query)
		if code != wantCode || ct != wantCT || !strings.Contains(body, wantBody) {
			t.Errorf("GET /api/cluster%s: %d %s %s; want %d %s with %s", query, code, ct, body, wantCode, wantCT, wantBody)
		}
	}
	f("", 200, "application/json", `{"window_seconds":900}`)
	f("?window=1h", 200, "application/json", `{"window_seconds":3600}`)
	f("?window=30s", 200, "application/json", `{"window_seconds":30}`)
	for _, bad := range []string{"5s", "25h", "15", "m", "1.5h", "-1m", "15M", "99999999999m"} {
		f("?window="+bad, 400, "application/problem+json", `"reason":"cluster.bad_window"`)
	}
	if n := src.calls.Load(); n != 3 {
		t.Fatalf("%d queries for three windows", n)
	}

	// Many refreshes, concurrent ones included, within the TTL: no query.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { f("?window=15m", 200, "application/json", `{"window_seconds":900}`) })
	}
	wg.Wait()
	if n := src.calls.Load(); n != 3 {
		t.Errorf("%d queries after 20 refreshes within the TTL; want still 3", n)
	}
	clock.Add(int64(clusterTTL))
	f("", 200, "application/json", `{"window_seconds":900}`)
	if n := src.calls.Load(); n != 4 {
		t.Errorf("%d queries once the TTL passed; want 4", n)
	}

	// The database fails: an error object, itself cached, and the local
	// statistics still answer.
	src.mu.Lock()
	src.err = errors.New("cannot connect to PostgreSQL: connection refused")
	src.mu.Unlock()
	clock.Add(int64(clusterTTL))
	f("", 503, "application/problem+json", `"reason":"cluster.unavailable"`)
	f("", 503, "application/problem+json", `connection refused`)
	if n := src.calls.Load(); n != 5 {
		t.Errorf("%d queries; want 5: the error is cached too", n)
	}
	if code, _, body := get(t, srv.URL+"/api/stats"); code != 200 || !json.Valid([]byte(body)) {
		t.Errorf("/api/stats while the cluster view fails: %d %s", code, body)
	}

	// A source without a database (shipping turned off by a reload):
	// not configured, as without a source, once the cache expires.
	src.mu.Lock()
	src.err = fmt.Errorf("proxy: %w", ErrNoCluster)
	src.mu.Unlock()
	clock.Add(int64(clusterTTL))
	f("", 404, "application/problem+json", `"reason":"cluster.not_configured"`)

	// A source that hangs is cut at the timeout.
	src.mu.Lock()
	src.err, src.delay = nil, time.Minute
	src.mu.Unlock()
	clock.Add(int64(clusterTTL))
	start := time.Now()
	f("", 503, "application/problem+json", `context deadline exceeded`)
	if d := time.Since(start); d < clusterTimeout || d > clusterTimeout+time.Second {
		t.Errorf("a hanging source answered after %v; want the %v timeout", d, clusterTimeout)
	}
}

// FuzzParseWindow: whatever the query says, an accepted window is within
// the bounds (a product that wraps past int64 included).
func FuzzParseWindow(f *testing.F) {
	// Seeds beyond these are in testdata/fuzz/FuzzParseWindow.
	f.Add("15m")
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseWindow(s)
		if ok && (d < clusterMinWindow || d > clusterMaxWindow) {
			t.Fatalf("parseWindow(%q) = %v outside the bounds", s, d)
		}
	})
}
