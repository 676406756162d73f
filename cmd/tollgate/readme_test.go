package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/internal/keytest"
)

// readmeSection returns the fenced blocks of lang in the README section
// titled heading.
func readmeSection(t *testing.T, heading, lang string) []string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(raw), "\n## "+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no section %q", heading)
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	var blocks []string
	for {
		var block string
		_, rest, ok := strings.Cut(sec, "```"+lang+"\n")
		if !ok {
			return blocks
		}
		block, sec, _ = strings.Cut(rest, "```")
		blocks = append(blocks, block)
	}
}

// TestReadmePolicyTools runs the README's check and explain lines as
// printed, in a directory laid out as make run leaves the repository, and
// compares the transcript it shows with the first explain's real output.
func TestReadmePolicyTools(t *testing.T) {
	sh := readmeSection(t, "Checking and explaining a policy", "sh")
	text := readmeSection(t, "Checking and explaining a policy", "text")
	if len(sh) != 1 || len(text) != 1 {
		t.Fatalf("want one sh and one text block, got %d and %d", len(sh), len(text))
	}
	dir := t.TempDir()
	for _, d := range []string{"configs", "data"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile("../../configs/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "configs", "quickstart.yaml"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	// As make run does: the audit key and the development JWT key.
	if err := os.Rename(keytest.AuditKey(t, dir), filepath.Join(dir, "data", "audit-dev.key")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(keytest.NewJWT(t, dir).JWKSFile, filepath.Join(dir, "data", "jwt-dev.jwks.json")); err != nil {
		t.Fatal(err)
	}
	var outputs []string
	ran := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(sh[0]), "\n") {
		cmdline, comment, _ := strings.Cut(line, "#")
		args := strings.Fields(cmdline)
		if len(args) < 2 || args[0] != "bin/tollgate" {
			t.Fatalf("README line %q is not a bin/tollgate command", line)
		}
		cmd := exec.Command(binary, args[1:]...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmdline, err, out)
		}
		if c := strings.TrimSpace(comment); strings.HasPrefix(c, "configs/") && strings.TrimSpace(string(out)) != c {
			t.Errorf("%s printed %q, the README says %q", cmdline, out, c)
		}
		ran[args[1]]++
		if args[1] == "explain" {
			outputs = append(outputs, string(out))
		}
	}
	if ran["check"] == 0 || ran["explain"] < 2 {
		t.Fatalf("the README shows %v; want check and explain lines", ran)
	}
	if outputs[0] != text[0] {
		t.Errorf("the README's explain transcript differs from the output:\n got:\n%s\nwant:\n%s", outputs[0], text[0])
	}
}
