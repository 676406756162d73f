package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

// upstreamAnswers are responses a backend may send, by the path asked
// for, and what the client must get for each: the status, then the
// body, or the refusal's reason code for a 502. What the client gets is
// the printed head (Go's parser) and body, with the per-request fields
// (Date, X-Request-Id) left out.
var upstreamAnswers = []struct {
	path, answer string
	status       int
	want         string // the body, or the reason of a 502
	header       string // a header the client must get, "Name: value"
}{
	// Bodies delimited every way HTTP/1.1 allows.
	{"/close-delimited", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello", 200, "hello", ""},
	{"/http10", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "ok", ""},
	{"/cl-and-te", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 200, "ok", ""},
	{"/204-with-length", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", 204, "", ""},
	// Interim answers are not relayed; the final one is.
	{"/early-hints", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "ok", ""},
	{"/unsolicited-100", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "ok", ""},
	// Fields: repeated ones kept; a folded value unfolded (RFC 9112 §5.2);
	// no Content-Type added where the backend sent none.
	{"/two-cookies", "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\nok", 200, "ok", "Set-Cookie: a=1 b=2"},
	{"/obs-fold", "HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 2\r\n\r\nok", 200, "ok", "X-A: 1 folded"},
	// A chunked answer's trailer fields reach the client (the head needs
	// no Trailer field announcing them); a chunk size that is not one
	// leaves the client the head alone, then the close.
	{"/chunked-trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n", 200, "ok", ""},
	{"/bad-chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n", 200, "", ""},
	// Heads up to 64 KiB (a large session cookie), not beyond.
	{"/big-cookie", "HTTP/1.1 200 OK\r\nSet-Cookie: s=" + strings.Repeat("c", 20<<10) + "\r\nContent-Length: 2\r\n\r\nok", 200, "ok", ""},
	{"/huge-head", "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("c", 70<<10) + "\r\nContent-Length: 2\r\n\r\nok", 502, "upstream.bad_response", ""},
	// A body cut short: the head and what came, then the close.
	{"/truncated", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", 200, "hello", "Content-Length: 10"},
	// Answers no client should get: 502.
	{"/space-in-name", "HTTP/1.1 200 OK\r\nX A: 1\r\nContent-Length: 2\r\n\r\nok", 502, "upstream.bad_response", ""},
	{"/ctl-in-value", "HTTP/1.1 200 OK\r\nX-A: 1\x01\r\nContent-Length: 2\r\n\r\nok", 502, "upstream.bad_response", ""},
	{"/two-lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!", 502, "upstream.bad_response", ""},
	{"/negative-length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok", 502, "upstream.bad_response", ""},
	{"/bad-status", "HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok", 502, "upstream.bad_response", ""},
	{"/unasked-upgrade", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nraw", 502, "upstream.bad_response", ""},
	{"/gzip-chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 502, "upstream.bad_response", ""},
	{"/unknown-coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: foo\r\n\r\nok", 502, "upstream.bad_response", ""},
	{"/bare-lf", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 502, "upstream.unavailable", ""},
}

// scriptedUpstream answers each request with the upstreamAnswers entry of
// its path, then closes the connection.
func scriptedUpstream(t *testing.T) string {
	t.Helper()
	byPath := map[string]string{}
	for _, a := range upstreamAnswers {
		byPath[a.path] = a.answer
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				line, _ := br.ReadString('\n')
				for {
					if l, err := br.ReadString('\n'); err != nil || l == "\r\n" {
						break
					}
				}
				if f := strings.Fields(line); len(f) > 1 {
					_, _ = c.Write([]byte(byPath[f[1]]))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// scriptedProxy serves every path from a scriptedUpstream on engine.
func scriptedProxy(t *testing.T, engine string) *testProxy {
	t.Helper()
	return startProxy(t, onEngine(t, fmt.Sprintf(`
log: {level: error}
admin: {listen: 127.0.0.1:0}
listeners:
  - {name: public, listen: 127.0.0.1:0}
upstreams:
  - {name: scripted, targets: [%s], timeout: 2s}
routes:
  - {name: all, path: /*, upstream: scripted}
`, scriptedUpstream(t)), engine))
}

var perRequest = regexp.MustCompile(`Date:\[[^\]]*\] |X-Request-Id:\[[^\]]*\]|"request_id":"[^"]*"`)

// TestUpstreamAnswers: how a backend frames and spells its answer, and
// what the client gets, the same on both engines: every framing HTTP/1.1
// allows relayed, interim answers dropped, a folded field unfolded, a
// body cut short relayed as far as it came and then closed (never
// completed with an error's text), and 502 upstream.bad_response for a
// field name or value, a length or a coding no client should be handed.
func TestUpstreamAnswers(t *testing.T) {
	got := map[string]map[string]string{}
	eachEngine(t, func(t *testing.T, engine string) {
		p := scriptedProxy(t, engine)
		for _, a := range upstreamAnswers {
			status, text := e2etest.RawRequest(t, p.addr, "GET "+a.path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			head, body, _ := strings.Cut(perRequest.ReplaceAllString(text, ""), "\n")
			if got[a.path] == nil {
				got[a.path] = map[string]string{}
			}
			got[a.path][engine] = fmt.Sprint(status, head, body)
			switch {
			case status != a.status:
				t.Errorf("%s: %d, want %d\n%s", a.path, status, a.status, text)
			case a.status == 502 && !strings.Contains(body, `"reason":"`+a.want+`"`):
				t.Errorf("%s: %s, want reason %s", a.path, body, a.want)
			case a.status != 502 && body != a.want:
				t.Errorf("%s: body %q, want %q", a.path, body, a.want)
			case strings.Contains(head, "Content-Type") && a.status != 502:
				t.Errorf("%s: a Content-Type the backend did not send: %s", a.path, head)
			}
			if a.header != "" {
				name, value, _ := strings.Cut(a.header, ": ")
				if !strings.Contains(head, name+":["+value+"]") {
					t.Errorf("%s: head %s, want %s", a.path, head, a.header)
				}
			}
		}
	})
	for path, by := range got {
		if by["fasthttp"] != by["gnet"] {
			t.Errorf("%s: the engines differ:\n  fasthttp %s\n  gnet     %s", path, by["fasthttp"], by["gnet"])
		}
	}
}

// TestChunkedTrailersRelayed: the trailer section of a chunked answer
// reaches the client byte for byte the same on both engines (the event
// loop relays the chunked body verbatim; the goroutine engine re-chunks
// it and carries the parsed trailers over).
func TestChunkedTrailersRelayed(t *testing.T) {
	got := map[string]string{}
	eachEngine(t, func(t *testing.T, engine string) {
		p := scriptedProxy(t, engine)
		x := e2etest.RawExchange(t, p.addr, "GET /chunked-trailer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 1)
		_, body, _ := strings.Cut(x.Raw, "\r\n\r\n")
		if body != "2\r\nok\r\n0\r\nX-T: 1\r\n\r\n" {
			t.Errorf("chunked body and trailers %q", body)
		}
		got[engine] = body
	})
	if got["fasthttp"] != got["gnet"] {
		t.Errorf("the engines differ: %q and %q", got["fasthttp"], got["gnet"])
	}
}

// TestCutShortIsRecorded: an upstream that breaks off a body after its
// head went out leaves the client a short body and a closed connection,
// and the audit trail says whose fault it was, on both engines: a small
// body the goroutine engine buffers and a large one it streams, and both
// on the event loop, are recorded as upstream.stream_broken (the event
// loop in its one record, the goroutine engine in the stream's end
// record).
func TestCutShortIsRecorded(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		keyFile, logDir, _ := auditSetup(t, t.TempDir(), "tollgate.test/cut-"+engine)
		p := startProxy(t, onEngine(t, fmt.Sprintf(`
log: {level: error}
admin: {listen: 127.0.0.1:0}
listeners:
  - {name: public, listen: 127.0.0.1:0}
upstreams:
  - {name: scripted, targets: [%s], timeout: 2s}
  - {name: broken, targets: [%s], timeout: 2s}
audit: {dir: %s, signing_key_file: %s, checkpoint_interval: 50ms}
routes:
  - {name: big, path: /big, upstream: broken}
  - {name: all, path: /*, upstream: scripted}
`, scriptedUpstream(t), brokenUpstream(t), logDir, keyFile), engine))
		ids := map[string]string{}
		for _, path := range []string{"/truncated", "/big"} {
			resp, err := e2etest.Client.Get(p.base + path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, resp.Body); err == nil {
				t.Fatalf("%s: a body cut short was read without error", path)
			}
			resp.Body.Close()
			ids[resp.Header.Get("X-Request-Id")] = path
		}
		broken := map[string]bool{}
		shutdownAndScan(t, p, logDir, func(rec *auditlog.Record) error {
			if path, ok := ids[string(rec.RequestID)]; ok && string(rec.Reason) == "upstream.stream_broken" && rec.Status == 200 {
				broken[path] = true
			}
			return nil
		})
		for _, path := range ids {
			if !broken[path] {
				t.Errorf("%s: no record says the upstream broke the response off", path)
			}
		}
	})
}
