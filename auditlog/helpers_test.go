package auditlog

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

var (
	testKeyOnce        sync.Once
	testSkey, testVkey string
)

// testKeys returns one key pair for the whole test binary.
func testKeys(t testing.TB) (string, string) {
	testKeyOnce.Do(func() {
		if k := os.Getenv("TOLLGATE_AUDIT_TEST_SKEY"); k != "" {
			// A re-executed child uses its parent's key.
			v, err := VerifierKey(k)
			if err != nil {
				panic(err)
			}
			testSkey, testVkey = k, v
			return
		}
		var err error
		testSkey, testVkey, err = GenerateKey("audit.test/tollgate")
		if err != nil {
			panic(err)
		}
	})
	return testSkey, testVkey
}

func testOptions(t testing.TB, dir string) Options {
	skey, _ := testKeys(t)
	return Options{Dir: dir, SigningKey: skey, QueueSize: 1024, SegmentMaxBytes: 1 << 20}
}

var testStart = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC).UnixNano()

// testEntry fills e with a realistic record number i.
func testEntry(e *Entry, i int) {
	e.Reset()
	e.Start = testStart + int64(i)*1e6
	e.Duration = int64(1000 + i%5000)
	e.RequestID = fmt.Appendf(e.RequestID, "%016x%016x", uint64(i)*0x9e3779b97f4a7c15, uint64(i))
	e.Principal = fmt.Appendf(e.Principal, "user-%d", i%97)
	e.AuthMethod = "jwt"
	e.Roles = append(e.Roles, "reader,writer"...)
	e.ClientIP = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
	e.Method = append(e.Method, "GET"...)
	e.Route = append(e.Route, "/v1/orders/{id}"...)
	e.Path = fmt.Appendf(e.Path, "/v1/orders/%d", i)
	e.Status = 200
	e.BytesIn = uint64(i % 300)
	e.BytesOut = uint64(1000 + i%7000)
	e.Upstream = "orders"
	e.Decision = DecisionAllowed
	e.ConfigGeneration = 3
	switch i % 10 {
	case 7:
		e.Status, e.Decision, e.Reason = 401, DecisionDenied, "authn.token_expired"
		e.Unverified = true
		e.HintIssuer = append(e.HintIssuer, "https://issuer.example"...)
		e.HintKeyID = append(e.HintKeyID, "k1"...)
	case 9:
		e.Status, e.Decision, e.Reason = 429, DecisionLimited, "ratelimit.exceeded"
	}
}

func appendN(t testing.TB, l *Log, from, n int) {
	t.Helper()
	var e Entry
	for i := from; i < from+n; i++ {
		testEntry(&e, i)
		idx, err := l.Append(&e)
		for err == ErrQueueFull {
			runtime.Gosched()
			idx, err = l.Append(&e)
		}
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if l.opts.Durability != DurabilityAsync && idx != uint64(i) {
			t.Fatalf("append %d: index %d", i, idx)
		}
	}
}

func mkdirs(dir string) error {
	return os.MkdirAll(filepath.Join(dir, saltDir), 0o750)
}
