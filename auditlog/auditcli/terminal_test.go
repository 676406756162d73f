package auditcli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/auditlog"
)

// TestVerifyProgressOnlyOnATerminal: verify draws its progress bar, redrawn
// with carriage returns, for a log big enough to take a while (100 000
// records or more), and only when stderr is a terminal: into a file or a
// pipe it writes the result alone.
func TestVerifyProgressOnlyOnATerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: writes 100 000 records")
	}
	l, dir, prefix := newLog(t, "audit.test/progress")
	e := auditlog.Entry{Method: []byte("GET"), Path: []byte("/v1/items/1"), Status: 200, Start: 1}
	for i := 0; i < 100_000; i++ {
		if _, err := l.Append(&e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.Create(filepath.Join(t.TempDir(), "stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var out bytes.Buffer
	if code := Main([]string{"verify", "--dir", dir, "--pub", prefix + ".pub"}, &out, file); code != 0 {
		t.Fatalf("verify: exit %d\n%s", code, out.String())
	}
	got, _ := os.ReadFile(file.Name())
	if bytes.ContainsAny(got, "\r") || bytes.Contains(got, []byte("verifying")) {
		t.Fatalf("progress written into a file: %q", got)
	}
	if !strings.HasPrefix(out.String(), "OK: 100000 records") {
		t.Fatalf("verify: %q", out.String())
	}
	for name, w := range map[string]io.Writer{"a file": file, "a buffer": &bytes.Buffer{}} {
		if isTerminal(w) {
			t.Errorf("%s is taken for a terminal", name)
		}
	}
}

// TestQueryFindsAndEscapesRawTargets: a refused request's raw target is
// found by --path-prefix and printed with its control bytes escaped, in
// the table and in JSON.
func TestQueryFindsAndEscapesRawTargets(t *testing.T) {
	l, dir, _ := newLog(t, "audit.test/raw")
	for _, e := range []auditlog.Entry{
		{Method: []byte("GET"), Path: []byte("/v1/items/1"), Status: 200, Start: 1},
		{Method: []byte("GET"), Status: 400, Start: 2, Decision: auditlog.DecisionInvalid, Reason: "request.bad_path",
			Ext: auditlog.AppendExt(nil, auditlog.ExtRawTarget, []byte("/v1/items/%2e%2e/\x1b[2Jadmin"))},
	} {
		if _, err := l.Append(&e); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	out, se, code := run(t, "query", "--dir", dir, "--path-prefix", "/v1/items/%2e")
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, `sent "/v1/items/%2e%2e/\x1b[2Jadmin"`) || strings.Contains(out, "\x1b") {
		t.Fatalf("query: %d %q %s", code, out, se)
	}
	out, _, _ = run(t, "query", "--dir", dir, "--reason", "request.bad_path", "--json")
	if !strings.Contains(out, `"raw_target":"/v1/items/%2e%2e/\u001b[2Jadmin"`) || strings.Contains(out, `"ext"`) {
		t.Fatalf("query --json: %s", out)
	}
}

// newLog makes a signing key with `audit keygen` (PREFIX.key, PREFIX.pub)
// and opens a log signed with it in dir.
func newLog(t *testing.T, origin string) (l *auditlog.Log, dir, prefix string) {
	t.Helper()
	tmp := t.TempDir()
	dir, prefix = filepath.Join(tmp, "audit"), filepath.Join(tmp, "dev")
	if _, se, code := run(t, "keygen", "--origin", origin, "--out", prefix); code != 0 {
		t.Fatalf("keygen: %d %s", code, se)
	}
	skey, err := os.ReadFile(prefix + ".key")
	if err != nil {
		t.Fatal(err)
	}
	l, err = auditlog.Open(auditlog.Options{Dir: dir, SigningKey: strings.TrimSpace(string(skey))})
	if err != nil {
		t.Fatal(err)
	}
	return l, dir, prefix
}
