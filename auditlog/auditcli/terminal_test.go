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
	tmp := t.TempDir()
	dir, prefix := filepath.Join(tmp, "audit"), filepath.Join(tmp, "dev")
	if _, se, code := run(t, "keygen", "--origin", "audit.test/progress", "--out", prefix); code != 0 {
		t.Fatalf("keygen: %d %s", code, se)
	}
	skey, _ := os.ReadFile(prefix + ".key")
	l, err := auditlog.Open(auditlog.Options{Dir: dir, SigningKey: strings.TrimSpace(string(skey)), Durability: auditlog.DurabilityAsync})
	if err != nil {
		t.Fatal(err)
	}
	e := auditlog.Entry{Method: []byte("GET"), Path: []byte("/v1/items/1"), Status: 200, Start: 1}
	for i := 0; i < 100_000; i++ {
		if _, err := l.Append(&e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.Create(filepath.Join(tmp, "stderr.log"))
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
