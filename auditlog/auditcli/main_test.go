package auditcli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
)

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestCLI(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "audit")
	prefix := filepath.Join(tmp, "dev")
	if _, se, code := run(t, "keygen", "--origin", "audit.test/cli", "--out", prefix); code != 0 {
		t.Fatalf("keygen: %d %s", code, se)
	}
	skey, _ := os.ReadFile(prefix + ".key")
	l, err := auditlog.Open(auditlog.Options{Dir: dir, SigningKey: strings.TrimSpace(string(skey))})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 40; i++ {
		e := auditlog.Entry{
			Start: start.Add(time.Duration(i) * time.Second).UnixNano(), Duration: 1500,
			RequestID: []byte("req-" + string(rune('a'+i%26)) + string(rune('a'+i/26))),
			Principal: []byte("alice"), AuthMethod: "jwt", ClientIP: netip.MustParseAddr("192.0.2.7"),
			Method: []byte("GET"), Route: []byte("/v1/items/{id}"), Path: []byte("/v1/items/1"), Status: 200,
		}
		if i%4 == 0 {
			e.Status, e.Decision, e.Reason, e.Principal = 403, auditlog.DecisionDenied, "rbac.forbidden", []byte("bob")
		}
		if _, err := l.Append(&e); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()

	out, _, code := run(t, "query", "--dir", dir, "--decision", "denied", "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 10 {
		t.Fatalf("query: %d %q", code, out)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil || m["principal"] != "bob" || m["reason"] != "rbac.forbidden" || m["client_ip"] != "192.0.2.7" {
		t.Fatalf("json: %v %v", m, err)
	}
	out, _, code = run(t, "query", "--dir", dir, "--since", "2026-05-01T12:00:10Z", "--until", "2026-05-01T12:00:19Z", "--principal", "alice")
	if code != 0 || strings.Count(out, "alice") != 8 || !strings.HasPrefix(out, "INDEX") {
		t.Fatalf("query table: %d\n%s", code, out)
	}
	out, _, code = run(t, "tail", "--dir", dir, "-n", "3")
	if code != 0 || strings.Count(out, "\n") != 4 {
		t.Fatalf("tail: %d\n%s", code, out)
	}
	out, _, code = run(t, "tail", "--dir", dir, "--from", "38", "--json")
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, `"index":38`) {
		t.Fatalf("tail --from: %d\n%s", code, out)
	}
	out, _, code = run(t, "stats", "--dir", dir)
	if code != 0 || !strings.Contains(out, "records: 40") || !strings.Contains(out, "denied") {
		t.Fatalf("stats: %d\n%s", code, out)
	}
	out, se, code := run(t, "verify", "--dir", dir, "--pub", prefix+".pub")
	if code != 0 || !strings.HasPrefix(out, "OK: 40 records") {
		t.Fatalf("verify: %d %s %s", code, out, se)
	}
	proof := filepath.Join(tmp, "p.tlog-proof")
	if _, se, code := run(t, "prove", "--dir", dir, "--request-id", "req-eb", "-o", proof); code != 0 {
		t.Fatalf("prove: %s", se)
	}
	out, se, code = run(t, "verify-proof", "--pub", prefix+".pub", proof)
	if code != 0 || !strings.Contains(out, `"index":30`) {
		t.Fatalf("verify-proof: %d %s %s", code, out, se)
	}
	if out, _, code = run(t, "export-tiles", "--dir", dir, filepath.Join(tmp, "tiles")); code != 0 {
		t.Fatalf("export: %s", out)
	}
	// Verification failures exit 1.
	b, _ := os.ReadFile(proof)
	b[len(b)/3] ^= 1
	os.WriteFile(proof, b, 0o644)
	if _, _, code := run(t, "verify-proof", "--pub", prefix+".pub", proof); code != 1 {
		t.Fatalf("tampered proof: exit %d", code)
	}
	otherPrefix := filepath.Join(tmp, "other")
	run(t, "keygen", "--origin", "audit.test/cli", "--out", otherPrefix)
	if _, _, code := run(t, "verify", "--dir", dir, "--pub", otherPrefix+".pub", "-q"); code != 1 {
		t.Fatalf("verify with another key: exit %d", code)
	}
	// Bad usage exits 2 with a message.
	for _, args := range [][]string{
		{}, {"nope"}, {"query", "--bogus"}, {"query", "--dir", dir, "--since", "yesterday-ish"},
		{"query", "--dir", dir, "--decision", "maybe"}, {"prove", "--dir", dir}, {"verify-proof", proof},
		{"keygen", "--origin", "x"}, {"tail", "--dir", dir, "--from", "soon"},
	} {
		_, se, code := run(t, args...)
		if code != 2 || se == "" {
			t.Fatalf("%v: exit %d, stderr %q", args, code, se)
		}
	}
	// A missing log is a failure, not a usage error.
	if _, _, code := run(t, "query", "--dir", filepath.Join(tmp, "missing")); code != 1 {
		t.Fatalf("missing dir: exit %d", code)
	}
}

// TestStatsCountsRequestsOnce: a strict-mode decision record and a
// stream_end record describe a request already counted; a stream cut short
// moves it from allowed to its outcome.
func TestStatsCountsRequestsOnce(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "audit")
	prefix := filepath.Join(tmp, "dev")
	if _, se, code := run(t, "keygen", "--origin", "audit.test/stats", "--out", prefix); code != 0 {
		t.Fatalf("keygen: %d %s", code, se)
	}
	skey, _ := os.ReadFile(prefix + ".key")
	l, err := auditlog.Open(auditlog.Options{Dir: dir, SigningKey: strings.TrimSpace(string(skey))})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC).UnixNano()
	add := func(id string, kind auditlog.Kind, d auditlog.Decision) {
		t.Helper()
		e := auditlog.Entry{Start: start, Kind: kind, Decision: d, RequestID: []byte(id),
			Method: []byte("GET"), Route: []byte("/dl"), Path: []byte("/dl"), Status: 200}
		if _, err := l.Append(&e); err != nil {
			t.Fatal(err)
		}
	}
	add("a", auditlog.KindDecision, auditlog.DecisionAllowed) // strict mode: decision, then completion
	add("a", auditlog.KindCompletion, auditlog.DecisionAllowed)
	add("b", auditlog.KindCompletion, auditlog.DecisionAllowed) // a download the client walked away from
	add("b", auditlog.KindStreamEnd, auditlog.DecisionAborted)
	add("c", auditlog.KindCompletion, auditlog.DecisionAllowed) // a download sent whole
	add("c", auditlog.KindStreamEnd, auditlog.DecisionAllowed)
	add("d", auditlog.KindCompletion, auditlog.DecisionDenied)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	out, se, code := run(t, "stats", "--dir", dir, "--json")
	want := `{"records":7,"requests":4,"decision":{"allowed":2,"aborted":1,"denied":1},`
	if code != 0 || !strings.HasPrefix(out, want) {
		t.Fatalf("stats: %d %q %q, want prefix %s", code, out, se, want)
	}
	out, _, code = run(t, "stats", "--dir", dir, "--decision", "aborted", "--json")
	if code != 0 || !strings.HasPrefix(out, `{"records":1,"requests":1,"decision":{"aborted":1},`) {
		t.Fatalf("stats --decision aborted: %d %q", code, out)
	}
	// What the log takes on disk is the whole log's, whatever the filter:
	// seven records, each its own group and block, in the active segment.
	r, err := auditlog.OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	u, err := r.Usage()
	r.Close()
	if err != nil || u.ActiveRecords != 7 || u.ActiveBytes <= 0 {
		t.Fatalf("usage %+v: %v", u, err)
	}
	disk := fmt.Sprintf(`"disk":{"segments":1,"sealed_bytes":0,"sealed_records":0,"active_bytes":%d,"active_records":7}}`, u.ActiveBytes)
	if !strings.HasSuffix(strings.TrimSpace(out), disk) {
		t.Fatalf("stats --decision aborted: %q, want the suffix %s", out, disk)
	}
	perRecord := strconv.FormatFloat(float64(u.ActiveBytes)/7, 'f', 1, 64)
	line := fmt.Sprintf("disk: %d bytes in 1 segment, %s B per record (sealed -, active %s B)\n", u.ActiveBytes, perRecord, perRecord)
	out, _, code = run(t, "stats", "--dir", dir)
	if code != 0 || !strings.Contains(out, line) {
		t.Fatalf("stats: %d %q, want the line %q", code, out, line)
	}
}
