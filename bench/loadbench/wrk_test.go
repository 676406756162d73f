package main

import (
	"strings"
	"testing"
)

const sampleWrk = `Running 2s test @ http://127.0.0.1:40000/bench
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.70ms    2.00ms  40.00ms   90.00%
    Req/Sec    10.00k     1.00k   12.00k    70.00%
  40000 requests in 2.00s, 8.00MB read
Requests/sec:  20000.00
Transfer/sec:      4.00MB
LOADBENCH_RESULT {"requests":40000,"duration_us":2000000,"bytes":8388608,"connect_errors":0,"read_errors":1,"write_errors":0,"status_errors":2,"timeouts":3,"p50_us":1700,"p90_us":2500,"p99_us":9000,"p999_us":30000,"mean_us":1750.5,"max_us":40000}
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk([]byte(sampleWrk))
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 40000 || r.RPS() != 20000 || r.Errors() != 6 || r.P50 != 1700 || r.P99 != 9000 || r.Mean != 1750.5 {
		t.Fatalf("parseWrk = %+v", r)
	}
	bad := func(in string) {
		t.Helper()
		if r, err := parseWrk([]byte(in)); err == nil {
			t.Fatalf("parseWrk(%q) = %+v, want an error", in, r)
		}
	}
	bad("")
	bad("Requests/sec: 1\n")
	bad("LOADBENCH_RESULT {\"requests\":\n")
	bad("LOADBENCH_RESULT {\"requests\":\"x\"}\n")
	if (wrkResult{Requests: 5}).RPS() != 0 {
		t.Fatal("RPS with no duration is not 0")
	}
}

func TestWrkScript(t *testing.T) {
	s, err := wrkScript(request{Path: "/bench"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s, `wrk.method = "GET"`) || !strings.Contains(s, "done = function") || strings.Contains(s, "wrk.body") {
		t.Fatalf("script:\n%s", s)
	}
	s, err = wrkScript(request{Method: "POST", Path: "/x", Headers: []string{`Authorization: Bearer a"b\c`, "X-Y:1"}, Body: `{"a":1}`})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`wrk.method = "POST"`,
		`wrk.headers["Authorization"] = "Bearer a\"b\\c"`,
		`wrk.headers["X-Y"] = "1"`,
		`wrk.body = "{\"a\":1}"`,
	} {
		if !strings.Contains(s, want) {
			t.Fatalf("script lacks %s:\n%s", want, s)
		}
	}
	bad := func(req request) {
		t.Helper()
		if _, err := wrkScript(req); err == nil {
			t.Fatalf("wrkScript(%+v) succeeded", req)
		}
	}
	bad(request{Headers: []string{"no colon"}})
	bad(request{Headers: []string{": empty name"}})
	bad(request{Headers: []string{"X: a\nb"}})
	bad(request{Body: "line\nbreak"})
	bad(request{Method: "GÉT"})
}
