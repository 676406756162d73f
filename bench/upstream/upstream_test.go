package upstream

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// start serves a new Server on 127.0.0.1:0 and returns it with its base URL.
func start(t *testing.T) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{})
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		if err := s.Shutdown(); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after Shutdown")
		}
	})
	return s, "http://" + ln.Addr().String()
}

// client is a net/http client bounded in time, independent of the server
// under test.
func client(t *testing.T) *http.Client {
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

func do(t *testing.T, c *http.Client, method, url, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: cannot read body: %v", method, url, err)
	}
	return resp, string(b)
}

func TestEndpoints(t *testing.T) {
	_, base := start(t)
	c := client(t)
	tests := []struct {
		name, method, path, body string
		status                   int
		contains                 string
	}{
		{"bench", "GET", "/bench", "", 200, BenchBody},
		{"customers", "GET", "/api/v1/customers", "", 200, `"count":4`},
		{"customer", "GET", "/api/v1/customers/2", "", 200, `"name":"Grace Hopper"`},
		{"customer unknown", "GET", "/api/v1/customers/999", "", 404, `"error":"not_found"`},
		{"customer nested", "GET", "/api/v1/customers/1/x", "", 404, `"error":"not_found"`},
		{"customer delete", "DELETE", "/api/v1/customers/1", "", 204, ""},
		{"customer delete unknown", "DELETE", "/api/v1/customers/nope", "", 404, `not_found`},
		{"customer put", "PUT", "/api/v1/customers/1", "{}", 405, `method_not_allowed`},
		{"order", "POST", "/api/v1/orders", `{"sku":"A-1","qty":2}`, 201, `"order":{"qty":2,"sku":"A-1"}`},
		{"order invalid", "POST", "/api/v1/orders", `{"sku":`, 400, `invalid_json`},
		{"order array", "POST", "/api/v1/orders", `[1,2]`, 400, `invalid_json`},
		{"order null", "POST", "/api/v1/orders", `null`, 400, `invalid_json`},
		{"order empty", "POST", "/api/v1/orders", ``, 400, `invalid_json`},
		{"order get", "GET", "/api/v1/orders", "", 405, `method_not_allowed`},
		{"slow zero", "GET", "/slow?delay=0s", "", 200, `"delay":"0s"`},
		{"slow too long", "GET", "/slow?delay=61s", "", 400, `invalid_delay`},
		{"slow negative", "GET", "/slow?delay=-1s", "", 400, `invalid_delay`},
		{"events bad n", "GET", "/api/v1/events?n=0", "", 400, `invalid_n`},
		{"events too many", "GET", "/api/v1/events?n=10001", "", 400, `invalid_n`},
		{"events bad interval", "GET", "/api/v1/events?interval=2m", "", 400, `invalid_interval`},
		{"download bad size", "GET", "/api/v1/download/2x", "", 400, `invalid_size`},
		{"download too big", "GET", "/api/v1/download/2048g", "", 400, `invalid_size`},
		{"download post", "POST", "/api/v1/download/1", "x", 405, `method_not_allowed`},
		{"unknown", "GET", "/nope", "", 404, `no such endpoint`},
		{"bench post", "POST", "/bench", "x", 405, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, c, tt.method, base+tt.path, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			if !strings.Contains(body, tt.contains) {
				t.Fatalf("body %s does not contain %s", body, tt.contains)
			}
			if tt.status != 204 && resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("Content-Type = %q", resp.Header.Get("Content-Type"))
			}
		})
	}
}

func TestBenchBodySize(t *testing.T) {
	if n := len(BenchBody); n < 90 || n > 110 {
		t.Fatalf("len(BenchBody) = %d, want about 100", n)
	}
	if !json.Valid([]byte(BenchBody)) {
		t.Fatal("BenchBody is not JSON")
	}
}

func TestOrderIDs(t *testing.T) {
	_, base := start(t)
	c := client(t)
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		resp, body := do(t, c, "POST", base+"/api/v1/orders", `{"n":1}`)
		var o Order
		if err := json.Unmarshal([]byte(body), &o); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(o.ID, "ord_") || seen[o.ID] || o.Status != "created" {
			t.Fatalf("order %+v (seen %v)", o, seen)
		}
		if got := resp.Header.Get("Location"); got != "/api/v1/orders/"+o.ID {
			t.Fatalf("Location = %q", got)
		}
		seen[o.ID] = true
	}
}

func TestCounters(t *testing.T) {
	s, base := start(t)
	c := client(t)
	for i := 0; i < 3; i++ {
		do(t, c, "GET", base+"/bench", "")
	}
	do(t, c, "GET", base+"/api/v1/customers/1", "")
	do(t, c, "GET", base+"/echo/a/../b?x=1", "")
	if got := s.Requests(); got != 5 {
		t.Fatalf("Requests() = %d, want 5", got)
	}
	f := func(path string, want uint64) {
		t.Helper()
		if got := s.PathRequests(path); got != want {
			t.Fatalf("PathRequests(%q) = %d, want %d", path, got, want)
		}
	}
	f("/bench", 3)
	f("/api/v1/customers/1", 1)
	f("/echo/b", 1)
	f("/never", 0)

	_, body := do(t, c, "GET", base+"/admin/stats", "")
	var st Stats
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if st.Requests != 6 || st.Paths["/bench"] != 3 || st.Paths["/admin/stats"] != 1 || st.InFlight != 1 {
		t.Fatalf("stats = %+v", st)
	}

	s.ResetCounters()
	f("/bench", 0)
	if got := s.Requests(); got != 0 {
		t.Fatalf("Requests() after reset = %d", got)
	}
}

func TestCountersBounded(t *testing.T) {
	s := New(Options{MaxPaths: 2})
	for _, p := range []string{"/a", "/b", "/c", "/a", "/d"} {
		s.count([]byte(p))
	}
	st := s.Stats()
	if st.Requests != 5 || len(st.Paths) != 2 || st.Paths["/a"] != 2 || st.OtherPaths != 2 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestEcho(t *testing.T) {
	_, base := start(t)
	c := client(t)
	resp, body := do(t, c, "PATCH", base+"/echo/a%2Fb/./c?x=1&y=%20", "hello",
		"X-Custom", "one", "X-Custom", "two", "Authorization", "Bearer t")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var e Echo
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatal(err)
	}
	if e.Method != "PATCH" || e.URI != "/echo/a%2Fb/./c?x=1&y=%20" || e.Query != "x=1&y=%20" || e.BodyLength != 5 {
		t.Fatalf("echo = %+v", e)
	}
	if !strings.HasPrefix(e.RemoteAddr, "127.0.0.1:") || !strings.HasPrefix(e.Host, "127.0.0.1:") {
		t.Fatalf("echo = %+v", e)
	}
	f := func(name string, want ...string) {
		t.Helper()
		got := e.Headers[name]
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("header %s = %q, want %q", name, got, want)
		}
	}
	f("X-Custom", "one", "two")
	f("Authorization", "Bearer t")
	f("Content-Length", "5")
	f("Host", e.Host)
	f("X-Absent")
}

func TestEventsFlushedOneByOne(t *testing.T) {
	_, base := start(t)
	c := client(t)
	const interval = 200 * time.Millisecond
	begin := time.Now()
	resp, err := c.Get(base + "/api/v1/events?n=3&interval=200ms")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	var arrivals []time.Duration
	var datas []string
	for len(datas) < 4 {
		line, err := br.ReadString('\n')
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			arrivals = append(arrivals, time.Since(begin))
			datas = append(datas, strings.TrimSpace(d))
		}
	}
	if len(datas) != 3 {
		t.Fatalf("got %d events, want 3: %q", len(datas), datas)
	}
	for i, d := range datas {
		var ev struct{ Seq, Of int }
		if err := json.Unmarshal([]byte(d), &ev); err != nil || ev.Seq != i+1 || ev.Of != 3 {
			t.Fatalf("event %d = %s (%v)", i, d, err)
		}
	}
	// Buffered output would deliver all three together, at the end.
	if gap := arrivals[2] - arrivals[0]; gap < interval {
		t.Fatalf("events 1 and 3 arrived %v apart, want at least %v", gap, interval)
	}
}

func TestDownload(t *testing.T) {
	_, base := start(t)
	c := client(t)
	f := func(size string, want int64) {
		t.Helper()
		resp, err := c.Get(base + "/api/v1/download/" + size)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.ContentLength != want {
			t.Fatalf("%s: status %d, Content-Length %d, want %d", size, resp.StatusCode, resp.ContentLength, want)
		}
		br := bufio.NewReader(resp.Body)
		var off int64
		for {
			b, err := br.ReadByte()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if b != DownloadByte(off) {
				t.Fatalf("%s: byte %d = %q, want %q", size, off, b, DownloadByte(off))
			}
			off++
		}
		if off != want {
			t.Fatalf("%s: read %d bytes, want %d", size, off, want)
		}
	}
	f("0", 0)
	f("1", 1)
	f("64k", 64<<10)
	f("1000KB", 1000*1000)
	f("3m", 3<<20)

	req, _ := http.NewRequest("HEAD", base+"/api/v1/download/1g", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != 1<<30 {
		t.Fatalf("HEAD: status %d, Content-Length %d", resp.StatusCode, resp.ContentLength)
	}
}

func TestSlow(t *testing.T) {
	_, base := start(t)
	c := client(t)
	begin := time.Now()
	resp, body := do(t, c, "GET", base+"/slow?delay=150ms", "")
	if took := time.Since(begin); took < 150*time.Millisecond {
		t.Fatalf("answered after %v, want at least 150ms", took)
	}
	if resp.StatusCode != 200 || !strings.Contains(body, `"delay":"150ms"`) {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
}

func TestShutdownEndsStreams(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{})
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	c := client(t)
	base := "http://" + ln.Addr().String()

	events, err := c.Get(base + "/api/v1/events?n=1000&interval=10s")
	if err != nil {
		t.Fatal(err)
	}
	defer events.Body.Close()
	download, err := c.Get(base + "/api/v1/download/1g")
	if err != nil {
		t.Fatal(err)
	}
	defer download.Body.Close()
	slow := make(chan int, 1)
	go func() {
		resp, err := c.Get(base + "/slow?delay=60s")
		if err != nil {
			slow <- 0
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	// Wait until all three are being served.
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Streams < 2 || s.PathRequests("/slow") < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("streams never started: %+v", s.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}

	begin := time.Now()
	if err := s.Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if took := time.Since(begin); took > 3*time.Second {
		t.Fatalf("Shutdown took %v", took)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if code := <-slow; code != 503 && code != 0 {
		t.Fatalf("/slow during shutdown answered %d", code)
	}
	if _, err := io.Copy(io.Discard, download.Body); err == nil {
		t.Fatal("download of 1GiB ended cleanly after shutdown")
	}
	if _, err := io.Copy(io.Discard, events.Body); err != nil {
		t.Logf("event stream ended with %v", err)
	}
	if got := s.Stats().Streams; got != 0 {
		t.Fatalf("Streams = %d after shutdown", got)
	}
	// Shutdown is idempotent, and Serve refuses after it.
	if err := s.Shutdown(); err != nil {
		t.Fatal(err)
	}
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(ln2); err != ErrServerClosed {
		t.Fatalf("Serve after Shutdown = %v", err)
	}
}

func TestShutdownRacesServe(t *testing.T) {
	for i := 0; i < 20; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := New(Options{})
		served := make(chan error, 1)
		go func() { served <- s.Serve(ln) }()
		if err := s.Shutdown(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-served:
		case <-time.After(5 * time.Second):
			t.Fatal("Serve still running after Shutdown")
		}
	}
}

func TestCustomersIsACopy(t *testing.T) {
	c := Customers()
	c[0].Name = "changed"
	if Customers()[0].Name == "changed" {
		t.Fatal("Customers exposes the fixed data")
	}
}
