package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

// sequential sends each raw request on one connection after the answer to
// the one before, and returns the answers.
func sequential(t *testing.T, addr string, raws ...string) []e2etest.Response {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	var out []e2etest.Response
	for _, raw := range raws {
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer to %q: %v", raw, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, e2etest.Response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)})
	}
	return out
}

// TestParserRefusalsRecordTheRequestLine holds both engines to one record
// for a head their parser refuses: the method and raw target of its
// request line when the line itself is well-formed, nothing when it is
// not, on the first request of a connection or a later one; and a request
// line ended by a bare LF is refused at once (400), whatever follows. A
// head that stops coming after its request line (408 once header_timeout
// passes) is recorded with that line; one that stops inside it, without.
func TestParserRefusalsRecordTheRequestLine(t *testing.T) {
	const good = "GET /api/v1/customers/1 HTTP/1.1\r\nHost: x\r\n\r\n"
	// Heads that stop before their empty line: answered 408.
	const stalled = "GET /api/v1/customers/2 HTTP/1.1\r\nHost: x\r\n"
	longTarget := "/api/v1/customers/" + strings.Repeat("a", 5000)
	// Requests whose end the goroutine engine cannot find in a copy of
	// their first 4 KiB: a chunked body, a 6 KiB head, a 6 KiB body.
	chunked := "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
	chunkedTrailer := "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;x=y\r\n{\r\n1\r\n}\r\n0\r\nX-T: 1\r\n\r\n"
	// (Its padding is a field the Connection header names, which the
	// proxy does not forward: the test upstream reads heads of 4 KiB.)
	bigHead := "GET /api/v1/customers/1 HTTP/1.1\r\nHost: x\r\nConnection: X-Pad\r\nX-Pad: " + strings.Repeat("p", 6<<10) + "\r\n\r\n"
	bigBody := "GET /api/v1/customers/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 6144\r\n\r\n" + strings.Repeat("b", 6144)
	dupLength := "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
	postGood := "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
	tooLarge := "GET /api/v1/customers/2 HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 20<<10) + "\r\n\r\n"
	cases := []struct {
		name   string
		raws   []string // sent one after the other on one connection
		status int      // of the last answer
		// pipelined sends raws in one write instead.
		pipelined bool
		// gnet and fasthttp: what the last request's record shows.
		gnet, fasthttp [2]string
		reason         string // the last request's, when not request.malformed
	}{
		{name: "bare LF after the request line", raws: []string{"GET /api/v1/customers/1 HTTP/1.1\nHost: x\r\n\r\n"}, status: 400},
		{name: "bare LF head", raws: []string{"GET /api/v1/customers/1 HTTP/1.1\nHost: x\n\n"}, status: 400},
		{name: "empty lines then a bare LF", raws: []string{"\r\n\r\nGET /api/v1/customers/1 HTTP/1.1\nHost: x\n\n"}, status: 400},
		// The first line is an empty line ended by a bare LF: that is the
		// malformed line, not the request line after it.
		{name: "lone LF before the line", raws: []string{"\nGET /api/v1/customers/1 HTTP/1.1\r\nHost: x\r\n\r\n"}, status: 400},
		{name: "empty line, then a lone LF", raws: []string{"\r\n\nGET /api/v1/customers/1 HTTP/1.1\r\nHost: x\r\n\r\n"}, status: 400},
		{name: "no version", raws: []string{"GET /api/v1/customers/1\r\n\r\n"}, status: 400},
		{name: "duplicate length, first request", raws: []string{dupLength}, status: 400,
			gnet: [2]string{"POST", "/api/v1/orders"}, fasthttp: [2]string{"POST", "/api/v1/orders"}},
		{name: "empty lines before the line", raws: []string{"\r\n\r\n" + dupLength}, status: 400,
			gnet: [2]string{"POST", "/api/v1/orders"}, fasthttp: [2]string{"POST", "/api/v1/orders"}},
		{name: "duplicate length, second request", raws: []string{good, dupLength}, status: 400,
			gnet: [2]string{"POST", "/api/v1/orders"}, fasthttp: [2]string{"POST", "/api/v1/orders"}},
		{name: "431, second request", raws: []string{good, tooLarge}, status: 431,
			gnet: [2]string{"GET", "/api/v1/customers/2"}, fasthttp: [2]string{"GET", "/api/v1/customers/2"}, reason: "request.header_too_large"},
		// Pipelined behind served requests (one with a body): found where
		// it starts in what the connection read ahead.
		{name: "duplicate length, pipelined", raws: []string{good, postGood, dupLength}, status: 400, pipelined: true,
			gnet: [2]string{"POST", "/api/v1/orders"}, fasthttp: [2]string{"POST", "/api/v1/orders"}},
		{name: "bare LF, pipelined", raws: []string{postGood, "GET /api/v1/customers/1 HTTP/1.1\nHost: x\r\n\r\n"}, status: 400, pipelined: true},
		{name: "431, pipelined", raws: []string{good, tooLarge}, status: 431, pipelined: true,
			gnet: [2]string{"GET", "/api/v1/customers/2"}, fasthttp: [2]string{"GET", "/api/v1/customers/2"}, reason: "request.header_too_large"},
		// Pipelined behind requests whose end is past what the goroutine
		// engine keeps of them: found all the same, where it starts.
		{name: "duplicate length, pipelined behind a chunked body", raws: []string{chunked, dupLength}, status: 400, pipelined: true,
			gnet: [2]string{"POST", "/api/v1/orders"}, fasthttp: [2]string{"POST", "/api/v1/orders"}},
		{name: "431, pipelined behind a chunked body with a trailer", raws: []string{good, chunkedTrailer, tooLarge}, status: 431, pipelined: true,
			gnet: [2]string{"GET", "/api/v1/customers/2"}, fasthttp: [2]string{"GET", "/api/v1/customers/2"}, reason: "request.header_too_large"},
		{name: "duplicate length, pipelined behind a 6 KiB head", raws: []string{bigHead, dupLength}, status: 400, pipelined: true,
			gnet: [2]string{"POST", "/api/v1/orders"}, fasthttp: [2]string{"POST", "/api/v1/orders"}},
		{name: "duplicate length, pipelined behind a 6 KiB body", raws: []string{bigBody, dupLength}, status: 400, pipelined: true,
			gnet: [2]string{"POST", "/api/v1/orders"}, fasthttp: [2]string{"POST", "/api/v1/orders"}},
		{name: "431, pipelined behind a 6 KiB head", raws: []string{bigHead, good, tooLarge}, status: 431, pipelined: true,
			gnet: [2]string{"GET", "/api/v1/customers/2"}, fasthttp: [2]string{"GET", "/api/v1/customers/2"}, reason: "request.header_too_large"},
		{name: "408, pipelined behind a chunked body", raws: []string{chunked, stalled}, status: 408, reason: "request.timeout", pipelined: true,
			gnet: [2]string{"GET", "/api/v1/customers/2"}, fasthttp: [2]string{"GET", "/api/v1/customers/2"}},
		// The head stops after its request line and a field: the line
		// was read, so it is recorded.
		{name: "408, line in", raws: []string{stalled}, status: 408, reason: "request.timeout",
			gnet: [2]string{"GET", "/api/v1/customers/2"}, fasthttp: [2]string{"GET", "/api/v1/customers/2"}},
		{name: "408, empty lines then the line", raws: []string{"\r\n\r\n" + stalled}, status: 408, reason: "request.timeout",
			gnet: [2]string{"GET", "/api/v1/customers/2"}, fasthttp: [2]string{"GET", "/api/v1/customers/2"}},
		{name: "408, second request", raws: []string{good, stalled}, status: 408, reason: "request.timeout",
			gnet: [2]string{"GET", "/api/v1/customers/2"}, fasthttp: [2]string{"GET", "/api/v1/customers/2"}},
		{name: "408, behind a request with a body", raws: []string{postGood, stalled}, status: 408, reason: "request.timeout",
			gnet: [2]string{"GET", "/api/v1/customers/2"}, fasthttp: [2]string{"GET", "/api/v1/customers/2"}},
		{name: "408, pipelined", raws: []string{good, stalled}, status: 408, reason: "request.timeout", pipelined: true,
			gnet: [2]string{"GET", "/api/v1/customers/2"}, fasthttp: [2]string{"GET", "/api/v1/customers/2"}},
		// The head stops inside its request line: nothing to record.
		{name: "408, line not complete", raws: []string{"GET /api/v1/cust"}, status: 408, reason: "request.timeout"},
		{name: "408, second request, line not complete", raws: []string{good, "GET /api/v1/cust"}, status: 408, reason: "request.timeout"},
		// A line longer than the goroutine engine's copy (4 KiB): the
		// event loop holds the whole head, the goroutine engine reads it
		// from its ring, and both record the target as far as the record
		// keeps it.
		{name: "408, line longer than the copy", raws: []string{"GET " + longTarget + " HTTP/1.1\r\nHost: x\r\n"}, status: 408, reason: "request.timeout",
			gnet: [2]string{"GET", longTarget[:auditlog.MaxRawTarget]}, fasthttp: [2]string{"GET", longTarget[:auditlog.MaxRawTarget]}},
		{name: "431, line longer than the copy", raws: []string{"GET " + longTarget + " HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 20<<10) + "\r\n\r\n"}, status: 431, reason: "request.header_too_large",
			gnet: [2]string{"GET", longTarget[:auditlog.MaxRawTarget]}, fasthttp: [2]string{"GET", longTarget[:auditlog.MaxRawTarget]}},
		{name: "malformed line longer than the copy", raws: []string{"GET " + longTarget + " HTTP/9\r\nHost: x\r\n"}, status: 400, reason: "request.malformed"},
	}
	for _, engine := range []string{"fasthttp", "gnet"} {
		t.Run(engine, func(t *testing.T) {
			up := e2etest.StartUpstream(t)
			keyFile, logDir, _ := auditSetup(t, t.TempDir(), "tollgate.test/parser")
			// A short header_timeout for the heads that stop coming.
			cfg := withEngine(fmt.Sprintf(auditConfig, up.Addr, e2etest.DeadAddr(t), logDir, keyFile), engine)
			cfg = strings.Replace(cfg, "header_timeout: 2s", "header_timeout: 600ms", 1)
			p := startProxy(t, cfg)
			want := map[string][2]string{}
			names := map[string]string{}
			reasons := map[string]string{}
			statuses := map[string]int{}
			for _, c := range cases {
				before := up.Requests()
				var answers []e2etest.Response
				if c.pipelined {
					x := e2etest.RawExchange(t, p.addr, strings.Join(c.raws, ""), len(c.raws))
					answers = x.Responses
					if len(answers) != len(c.raws) {
						t.Fatalf("%s: %d answers: %v", c.name, len(answers), x.Err)
					}
				} else {
					answers = sequential(t, p.addr, c.raws...)
				}
				last := answers[len(answers)-1]
				if last.Status != c.status || last.Header.Get("Content-Type") != "application/problem+json" {
					t.Fatalf("%s: %d %q, want %d with a problem body\n%s", c.name, last.Status, last.Header.Get("Content-Type"), c.status, last.Body)
				}
				if n := up.Requests() - before; n != uint64(len(c.raws)-1) {
					t.Fatalf("%s: the upstream got %d requests, want %d ", c.name, n, len(c.raws)-1)
				}
				id := last.Header.Get("X-Request-Id")
				want[id], names[id], statuses[id], reasons[id] = c.gnet, c.name, c.status, c.reason
				if c.reason == "" {
					reasons[id] = "request.malformed"
				}
				if engine == "fasthttp" {
					want[id] = c.fasthttp
				}
			}
			seen := 0
			shutdownAndScan(t, p, logDir, func(rec *auditlog.Record) error {
				w, ok := want[string(rec.RequestID)]
				if !ok {
					return nil
				}
				seen++
				id := string(rec.RequestID)
				// Every row is checked, so a failure names all that differ.
				if string(rec.Method) != w[0] || string(rec.RawTarget()) != w[1] {
					t.Errorf("%s: recorded %q %q, want %q %q", names[id], rec.Method, rec.RawTarget(), w[0], w[1])
				}
				if int(rec.Status) != statuses[id] || string(rec.Reason) != reasons[id] {
					t.Errorf("%s: recorded %d %q, want %d %q", names[id], rec.Status, rec.Reason, statuses[id], reasons[id])
				}
				return nil
			})
			if seen != len(cases) {
				t.Fatalf("%d of %d refusals recorded", seen, len(cases))
			}
		})
	}
}
