package proxy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

// auditConfig is a proxy with the audit log on; %[1]s is the live
// upstream, %[2]s a dead one, %[3]s the log dir, %[4]s the key file.
const auditConfig = `
log: {level: warn}
admin: {listen: 127.0.0.1:0}
listeners:
  - name: public
    listen: 127.0.0.1:0
    header_timeout: 2s
upstreams:
  - {name: demo, targets: [%[1]s]}
  - {name: dead, targets: [%[2]s]}
audit:
  dir: %[3]s
  signing_key_file: %[4]s
  checkpoint_interval: 50ms
routes:
  - {name: get-customer, methods: [GET], path: "/api/v1/customers/{id}", upstream: demo}
  - {name: create-order, methods: [POST], path: /api/v1/orders, upstream: demo, max_body_bytes: 1KiB}
  - {name: down, methods: [GET], path: /down, upstream: dead}
`

type auditCase struct {
	status   int
	decision string
	reason   string
	route    string
}

// TestEveryRequestIsAuditedExactlyOnce runs on both engines: the default
// one writes each record before it releases the response, the gnet engine
// holds the end of the response until the record is acknowledged.
func TestEveryRequestIsAuditedExactlyOnce(t *testing.T) {
	for _, engine := range []string{"fasthttp", "gnet"} {
		t.Run(engine, func(t *testing.T) {
			up := e2etest.StartUpstream(t)
			dir := t.TempDir()
			keyFile, logDir, vkey := auditSetup(t, dir, "tollgate.test/audit")
			p := startProxy(t, withEngine(fmt.Sprintf(auditConfig, up.Addr, e2etest.DeadAddr(t), logDir, keyFile), engine))

			want := map[string]auditCase{}
			begun := time.Now()
			check := func(r e2etest.Response, c auditCase) {
				t.Helper()
				if r.Status != c.status {
					t.Fatalf("status %d, want %d: %s", r.Status, c.status, r.Body)
				}
				id := r.Header.Get("X-Request-Id")
				if id == "" {
					t.Fatal("e2etest.Response without X-Request-Id")
				}
				want[id] = c
			}
			check(e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", nil, ""), auditCase{200, "allowed", "", "/api/v1/customers/{id}"})
			check(e2etest.Do(t, "GET", p.base+"/nope", nil, ""), auditCase{404, "not_found", "route.not_found", ""})
			check(e2etest.Do(t, "DELETE", p.base+"/api/v1/orders", nil, ""), auditCase{405, "not_found", "route.method_not_allowed", ""})
			check(e2etest.Do(t, "POST", p.base+"/api/v1/orders", nil, strings.Repeat("x", 2048)), auditCase{413, "invalid", "request.body_too_large", "/api/v1/orders"})
			check(e2etest.Do(t, "GET", p.base+"/down", nil, ""), auditCase{502, "upstream_error", "upstream.unavailable", "/down"})
			_, text := e2etest.RawRequest(t, p.addr, "GET /api/v1/customers/%2e%2e/x?key=secret HTTP/1.1\r\nHost: x\r\n\r\n")
			badPath := responseFromText(t, text, 400)
			check(badPath, auditCase{400, "invalid", "request.bad_path", ""})
			_, text = e2etest.RawRequest(t, p.addr, "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")
			dupLength := responseFromText(t, text, 400)
			check(dupLength, auditCase{400, "invalid", "request.malformed", ""})
			// Refused by the parser (the goroutine engine's error handler)
			// or by the pipeline's version check: recorded all the same,
			// with the real time of arrival.
			_, text = e2etest.RawRequest(t, p.addr, "GET /api/v1/customers/1\r\n\r\n")
			noVersion := responseFromText(t, text, 400)
			check(noVersion, auditCase{400, "invalid", "request.malformed", ""})
			_, text = e2etest.RawRequest(t, p.addr, "GET /api/v1/customers/1 HTTP/9.9\r\nHost: x\r\n\r\n")
			version := responseFromText(t, text, 505)
			check(version, auditCase{505, "invalid", "request.version_not_supported", ""})
			_, text = e2etest.RawRequest(t, p.addr, "GET /api/v1/customers/1 HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 70<<10)+"\r\n\r\n")
			tooLarge := responseFromText(t, text, 431)
			check(tooLarge, auditCase{431, "invalid", "request.header_too_large", ""})
			// What was attempted, for the refusals that come before a path
			// is routed: the method and the raw target (never its query,
			// which may carry credentials), the same on both engines: the
			// event loop reads the request line of a head it refuses, the
			// goroutine engine keeps a bounded copy of it per connection. A
			// line with no version gives neither.
			attempts := map[string][2]string{
				badPath.Header.Get("X-Request-Id"):   {"GET", "/api/v1/customers/%2e%2e/x"},
				dupLength.Header.Get("X-Request-Id"): {"POST", "/api/v1/orders"},
				version.Header.Get("X-Request-Id"):   {"GET", "/api/v1/customers/1"},
				noVersion.Header.Get("X-Request-Id"): {"", ""},
				tooLarge.Header.Get("X-Request-Id"):  {"GET", "/api/v1/customers/1"},
			}
			end := time.Now()

			seen := map[string]int{}
			shutdownAndScan(t, p, logDir, func(rec *auditlog.Record) error {
				id := string(rec.RequestID)
				seen[id]++
				c, ok := want[id]
				if !ok {
					return fmt.Errorf("unexpected record %q (%s %s → %d)", id, rec.Method, rec.Path, rec.Status)
				}
				if int(rec.Status) != c.status || rec.Decision.String() != c.decision || string(rec.Reason) != c.reason || string(rec.Route) != c.route {
					return fmt.Errorf("record %q: status %d decision %s reason %q route %q, want %+v", id, rec.Status, rec.Decision, rec.Reason, rec.Route, c)
				}
				if !rec.Revealed || rec.ClientIP.String() != "127.0.0.1" {
					return fmt.Errorf("record %q: client IP not recorded (revealed=%v %v)", id, rec.Revealed, rec.ClientIP)
				}
				a, attempted := attempts[id]
				if attempted && (string(rec.Method) != a[0] || string(rec.RawTarget()) != a[1]) {
					return fmt.Errorf("record %q: method %q raw target %q, want %q %q", id, rec.Method, rec.RawTarget(), a[0], a[1])
				}
				if !attempted && len(rec.RawTarget()) > 0 {
					return fmt.Errorf("record %q: raw target %q beside path %q, which the client sent as it is", id, rec.RawTarget(), rec.Path)
				}
				if at := time.Unix(0, rec.Start); at.Before(begun) || at.After(end) || rec.Duration < 0 || rec.Duration > int64(10*time.Second) {
					return fmt.Errorf("record %q: start %v, duration %v; want within the test's %v..%v", id, at, time.Duration(rec.Duration), begun, end)
				}
				return nil
			})
			for id := range want {
				if seen[id] != 1 {
					t.Errorf("request %s recorded %d times, want exactly once", id, seen[id])
				}
			}
			res, err := auditlog.Verify(auditlog.VerifyOptions{Dir: logDir, VerifierKey: vkey})
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if res.Records != uint64(len(want)) || !res.Signed || res.Checkpoints == 0 {
				t.Fatalf("verify result %+v, want %d signed records", res, len(want))
			}
		})
	}
}

// withEngine puts auditConfig's listener on engine.
func withEngine(cfg, engine string) string {
	return strings.Replace(cfg, "    header_timeout: 2s\n", "    header_timeout: 2s\n    engine: "+engine+"\n", 1)
}

// responseFromText picks the status and X-Request-Id out of RawRequest's
// text.
func responseFromText(t *testing.T, text string, status int) e2etest.Response {
	t.Helper()
	i := strings.Index(text, "X-Request-Id:[")
	if i < 0 {
		t.Fatalf("no request id in %s", text)
	}
	id := text[i+len("X-Request-Id:["):]
	id = id[:strings.IndexByte(id, ']')]
	r := e2etest.Response{Status: status, Header: map[string][]string{"X-Request-Id": {id}}}
	return r
}

func TestStrictModeRecordsTheDecisionBeforeForwarding(t *testing.T) {
	for _, engine := range []string{"fasthttp", "gnet"} {
		t.Run(engine, func(t *testing.T) {
			up := e2etest.StartUpstream(t)
			dir := t.TempDir()
			keyFile, logDir, vkey := auditSetup(t, dir, "tollgate.test/strict")
			cfg := strings.Replace(withEngine(fmt.Sprintf(auditConfig, up.Addr, e2etest.DeadAddr(t), logDir, keyFile), engine),
				"  checkpoint_interval: 50ms\n", "  checkpoint_interval: 50ms\n  strict: true\n  durability: disk\n", 1) +
				"  - {name: slow, methods: [GET], path: /slow, upstream: demo, timeout: 5s}\n"
			p := startProxy(t, cfg)

			// While a slow request is in flight: once the upstream has it,
			// its decision record must already be in the log.
			before := up.Requests()
			slow := make(chan e2etest.Response, 1)
			go func() { slow <- e2etest.Do(t, "GET", p.base+"/slow?delay=300ms", nil, "") }()
			seen := false
			for deadline := time.Now().Add(5 * time.Second); !seen && time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
				forwarded := up.Requests() > before // read first: a decision must precede it
				decisions := 0
				rd, err := auditlog.OpenReader(logDir)
				if err != nil {
					t.Fatal(err)
				}
				_ = rd.Scan(&auditlog.Filter{}, func(_ uint64, rec *auditlog.Record) error {
					if rec.Kind == auditlog.KindDecision && string(rec.Path) == "/slow" {
						decisions++
					}
					return nil
				})
				rd.Close()
				if forwarded && decisions == 0 {
					t.Fatal("the upstream has the request, the log has no decision record for it")
				}
				seen = forwarded
			}
			if r := <-slow; !seen || r.Status != 200 {
				t.Fatalf("slow request: forwarded %v, status %d", seen, r.Status)
			}

			allowed := e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", nil, "")
			refused := e2etest.Do(t, "GET", p.base+"/nope", nil, "")
			if allowed.Status != 200 || refused.Status != 404 {
				t.Fatalf("statuses %d, %d", allowed.Status, refused.Status)
			}
			var got []string
			shutdownAndScan(t, p, logDir, func(rec *auditlog.Record) error {
				id := string(rec.RequestID)
				switch id {
				case allowed.Header.Get("X-Request-Id"):
					id = "allowed"
				case refused.Header.Get("X-Request-Id"):
					id = "refused"
				}
				if string(rec.Path) == "/slow" {
					id = "slow"
				}
				got = append(got, fmt.Sprintf("%s %s %d", id, rec.Kind, rec.Status))
				return nil
			})
			want := "slow decision 0,slow completion 200,allowed decision 0,allowed completion 200,refused completion 404"
			if strings.Join(got, ",") != want {
				t.Fatalf("records %q, want %q", strings.Join(got, ","), want)
			}
			if _, err := auditlog.Verify(auditlog.VerifyOptions{Dir: logDir, VerifierKey: vkey}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestStreamedResponsesGetAnEndRecord checks the audit trail of responses
// the goroutine engine streams after the completion record is written:
// each gets a stream_end record with the bytes really sent, and one the
// client walks away from is recorded as aborted. (The event loop holds the
// end of every response until its one record is written, so its record
// already has the bytes sent; TestGnetClientGoneWhileRecording covers it.)
func TestStreamedResponsesGetAnEndRecord(t *testing.T) {
	up := e2etest.StartUpstream(t)
	dir := t.TempDir()
	keyFile, logDir, vkey := auditSetup(t, dir, "tollgate.test/audit")
	dead := e2etest.DeadAddr(t)
	cfg := withEngine(fmt.Sprintf(auditConfig, up.Addr, dead, logDir, keyFile), "fasthttp") +
		"  - {name: download, methods: [GET, HEAD], path: \"/api/v1/download/{size}\", upstream: demo}\n" +
		"  - {name: events, methods: [GET], path: /api/v1/events, upstream: demo}\n" +
		"  - {name: broken, methods: [GET], path: /broken, upstream: broken}\n"
	cfg = strings.Replace(cfg, "  - {name: dead, targets: ["+dead+"]}\n",
		"  - {name: dead, targets: ["+dead+"]}\n  - {name: broken, targets: ["+brokenUpstream(t)+"]}\n", 1)
	p := startProxy(t, cfg)

	type end struct {
		decision, reason string
		bytes            func(uint64) bool
	}
	want := map[string]end{}
	get := func(path string, readAll bool) string {
		t.Helper()
		resp, err := e2etest.Client.Get(p.base + path)
		if err != nil {
			t.Fatal(err)
		}
		if readAll {
			_, err = io.Copy(io.Discard, resp.Body)
		} else {
			_, err = io.CopyN(io.Discard, resp.Body, 64<<10)
		}
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close() // before the end: the connection is dropped
		return resp.Header.Get("X-Request-Id")
	}
	const size = 4 << 20
	want[get("/api/v1/download/4m", true)] = end{"allowed", "", func(n uint64) bool { return n == size }}
	want[get("/api/v1/events?n=3&interval=10ms", true)] = end{"allowed", "", func(n uint64) bool { return n > 0 }}
	want[get("/api/v1/download/1g", false)] = end{"aborted", "client.aborted", func(n uint64) bool { return n >= 64<<10 && n < 1<<30 }}
	buffered := get("/api/v1/customers/1", true) // not streamed: no end record
	// The upstream promises 8 MiB and hangs up after 2: the client gets a
	// short body, and the record says whose fault it was.
	resp, err := e2etest.Client.Get(p.base + "/broken")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err == nil {
		t.Fatal("a body cut by the upstream was read without error")
	}
	resp.Body.Close()
	want[resp.Header.Get("X-Request-Id")] = end{"upstream_error", "upstream.stream_broken", func(n uint64) bool { return n == 2<<20 }}

	// The aborted stream's end is recorded when the proxy notices the
	// client is gone; wait for every end record before shutting down.
	ends := map[string]*auditlog.Record{}
	completions := map[string]int{}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := auditlog.OpenReader(logDir)
		if err != nil {
			t.Fatal(err)
		}
		clear(ends)
		clear(completions)
		err = r.Scan(&auditlog.Filter{}, func(_ uint64, rec *auditlog.Record) error {
			id := string(rec.RequestID)
			switch rec.Kind {
			case auditlog.KindStreamEnd:
				c := *rec
				c.Reason = append([]byte(nil), rec.Reason...)
				ends[id] = &c
			case auditlog.KindCompletion:
				completions[id]++
			}
			return nil
		})
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(ends) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for id, w := range want {
		e, ok := ends[id]
		if !ok {
			t.Errorf("request %s: no stream_end record", id)
			continue
		}
		if completions[id] != 1 || e.Status != 200 {
			t.Errorf("request %s: %d completion records, end status %d", id, completions[id], e.Status)
		}
		if e.Decision.String() != w.decision || string(e.Reason) != w.reason || !w.bytes(e.BytesOut) {
			t.Errorf("request %s: end record %s %q bytes_out %d, want %s %q", id, e.Decision, e.Reason, e.BytesOut, w.decision, w.reason)
		}
	}
	if _, ok := ends[buffered]; ok || completions[buffered] != 1 {
		t.Errorf("buffered request: end record %v, %d completion records", ok, completions[buffered])
	}
	if len(ends) != len(want) {
		t.Errorf("%d stream_end records, want %d", len(ends), len(want))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := auditlog.Verify(auditlog.VerifyOptions{Dir: logDir, VerifierKey: vkey}); err != nil {
		t.Fatalf("verify: %v", err)
	}
}

// brokenUpstream serves one response on every connection: headers that
// declare 8 MiB, 2 MiB of body, then a closed connection.
func brokenUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
					return
				}
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", 8<<20)
				c.Write(make([]byte, 2<<20))
			}()
		}
	}()
	return ln.Addr().String()
}

// auditSetup makes an audit signing key for origin under dir and returns
// the key file, the log directory to configure and the verifier key.
func auditSetup(t *testing.T, dir, origin string) (keyFile, logDir, vkey string) {
	t.Helper()
	skey, vkey, err := auditlog.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	keyFile = filepath.Join(dir, "audit.key")
	if err := os.WriteFile(keyFile, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return keyFile, filepath.Join(dir, "audit"), vkey
}

// TestAuditUnwritableFailsClosedOrOpen puts the log below its free-space
// high-water mark (min_free_bytes larger than any disk), on both engines.
// Fail-closed: every request is refused with 503 audit.unavailable and
// Retry-After, nothing reaches the upstream, /readyz says not ready.
// Fail-open: requests are served and counted as unrecorded.
func TestAuditUnwritableFailsClosedOrOpen(t *testing.T) {
	for _, engine := range []string{"fasthttp", "gnet"} {
		for _, policy := range []string{"fail-closed", "fail-open"} {
			t.Run(engine+"/"+policy, func(t *testing.T) {
				up := e2etest.StartUpstream(t)
				keyFile, logDir, _ := auditSetup(t, t.TempDir(), "tollgate.test/full-disk")
				cfg := strings.Replace(withEngine(fmt.Sprintf(auditConfig, up.Addr, e2etest.DeadAddr(t), logDir, keyFile), engine),
					"  checkpoint_interval: 50ms\n", "  checkpoint_interval: 50ms\n  min_free_bytes: 1000000GiB\n  failure_policy: "+policy+"\n", 1)
				p := startProxy(t, cfg)
				before := up.Requests()
				for i := 0; i < 3; i++ {
					r := e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", nil, "")
					if policy == "fail-open" {
						if r.Status != 200 {
							t.Fatalf("fail-open: %d %s", r.Status, r.Body)
						}
						continue
					}
					e2etest.AssertProblem(t, r, 503, "audit.unavailable")
					if r.Header.Get("Retry-After") == "" {
						t.Fatal("503 without Retry-After")
					}
				}
				m := metricsOf(t, p)
				ready := e2etest.Do(t, "GET", p.admin+"/readyz", nil, "")
				if policy == "fail-open" {
					if up.Requests()-before != 3 || !strings.Contains(m, "tollgate_audit_unrecorded_requests_total 3") {
						t.Fatalf("fail-open: upstream saw %d requests; metrics:\n%s", up.Requests()-before, m)
					}
					return
				}
				if n := up.Requests() - before; n != 0 {
					t.Fatalf("fail-closed: upstream saw %d requests", n)
				}
				if ready.Status != 503 || !strings.Contains(m, "tollgate_audit_healthy 0") {
					t.Fatalf("readyz %d; metrics:\n%s", ready.Status, m)
				}
			})
		}
	}
}

// TestGnetPipelinedRequestsWithAudit sends requests back to back on one
// connection to the gnet engine with the audit log on: each response waits
// for its record, the next request for the response before it, so the
// answers come in order and the log holds them in the same order.
func TestGnetPipelinedRequestsWithAudit(t *testing.T) {
	up := e2etest.StartUpstream(t)
	keyFile, logDir, vkey := auditSetup(t, t.TempDir(), "tollgate.test/pipelined")
	p := startProxy(t, withEngine(fmt.Sprintf(auditConfig, up.Addr, e2etest.DeadAddr(t), logDir, keyFile), "gnet"))
	c, err := net.DialTimeout("tcp", p.addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	const n = 30
	var raw strings.Builder
	want := make([]int, n)
	for i := 0; i < n; i++ {
		switch i % 3 {
		case 0:
			raw.WriteString("GET /api/v1/customers/1 HTTP/1.1\r\nHost: x\r\n\r\n")
			want[i] = 200
		case 1:
			raw.WriteString("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
			want[i] = 404
		case 2:
			body := `{"customer":"1","sku":"tea","qty":2}`
			fmt.Fprintf(&raw, "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			want[i] = 201
		}
	}
	if _, err := io.WriteString(c, raw.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	ids := make([]string, n)
	for i := 0; i < n; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want[i] {
			t.Fatalf("response %d: status %d, want %d", i, resp.StatusCode, want[i])
		}
		ids[i] = resp.Header.Get("X-Request-Id")
	}
	var got []string
	shutdownAndScan(t, p, logDir, func(rec *auditlog.Record) error {
		got = append(got, string(rec.RequestID))
		return nil
	})
	if strings.Join(got, " ") != strings.Join(ids, " ") {
		t.Fatalf("log order %v\nresponse order %v", got, ids)
	}
	if _, err := auditlog.Verify(auditlog.VerifyOptions{Dir: logDir, VerifierKey: vkey}); err != nil {
		t.Fatal(err)
	}
}

// TestGnetClientGoneWhileRecording closes connections right after sending
// a request, while the gnet engine may be holding the response for its
// record (durability disk makes that window an fdatasync long). The proxy
// keeps serving, a graceful shutdown drains (no request stays counted in
// flight), and the log verifies.
func TestGnetClientGoneWhileRecording(t *testing.T) {
	up := e2etest.StartUpstream(t)
	keyFile, logDir, vkey := auditSetup(t, t.TempDir(), "tollgate.test/gone")
	cfg := strings.Replace(withEngine(fmt.Sprintf(auditConfig, up.Addr, e2etest.DeadAddr(t), logDir, keyFile), "gnet"),
		"  checkpoint_interval: 50ms\n", "  checkpoint_interval: 50ms\n  durability: disk\n", 1)
	p := startProxy(t, cfg)
	for i := 0; i < 40; i++ {
		c, err := net.DialTimeout("tcp", p.addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(c, "GET /api/v1/customers/1 HTTP/1.1\r\nHost: x\r\n\r\n")
		// From at once to a few milliseconds: before the upstream answers,
		// and after the response is complete but its record not yet synced.
		time.Sleep(time.Duration(i%10) * 400 * time.Microsecond)
		c.Close()
	}
	if r := e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", nil, ""); r.Status != 200 {
		t.Fatalf("after abandoned requests: %d %s", r.Status, r.Body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown did not drain: %v", err)
	}
	res, err := auditlog.Verify(auditlog.VerifyOptions{Dir: logDir, VerifierKey: vkey})
	if err != nil {
		t.Fatal(err)
	}
	if res.Records == 0 || res.Records > 41 {
		t.Fatalf("%d records for at most 41 requests", res.Records)
	}
}

// shutdownAndScan stops the proxy, so that every record is written and
// the log closed, and hands each record of the log in logDir to fn.
func shutdownAndScan(t *testing.T, p *testProxy, logDir string, fn func(rec *auditlog.Record) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := auditlog.OpenReader(logDir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Scan(&auditlog.Filter{}, func(_ uint64, rec *auditlog.Record) error { return fn(rec) }); err != nil {
		t.Fatal(err)
	}
}
