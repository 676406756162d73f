package upstream

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// lineWriter collects output and signals its first line.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	first chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	had := bytes.IndexByte(w.buf.Bytes(), '\n') >= 0
	w.buf.Write(p)
	if i := bytes.IndexByte(w.buf.Bytes(), '\n'); !had && i >= 0 {
		w.first <- string(w.buf.Bytes()[:i])
	}
	return len(p), nil
}

func TestMainServesUntilStopped(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &lineWriter{first: make(chan string, 1)}
	var errOut bytes.Buffer
	code := make(chan int, 1)
	go func() { code <- run(ctx, []string{"--listen", "127.0.0.1:0"}, out, &errOut) }()

	var line string
	select {
	case line = <-out.first:
	case c := <-code:
		t.Fatalf("exited with %d: %s", c, errOut.String())
	case <-time.After(10 * time.Second):
		t.Fatal("no address printed")
	}
	_, url, ok := strings.Cut(line, "listening on ")
	if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("first line %q", line)
	}
	c := client(t)
	resp, err := c.Get(url + "/bench")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != BenchBody {
		t.Fatalf("body %q", body)
	}

	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit code %d: %s", c, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
	if _, err := http.Get(url + "/bench"); err == nil {
		t.Fatal("still serving after stop")
	}
}

func TestMainUsage(t *testing.T) {
	f := func(want int, args ...string) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var out, errOut bytes.Buffer
		if got := run(ctx, args, &out, &errOut); got != want {
			t.Fatalf("run(%q) = %d, want %d; stderr %s", args, got, want, errOut.String())
		}
	}
	f(2, "--bogus")
	f(2, "extra")
	f(0, "--help")
	f(1, "--listen", "127.0.0.1:notaport")
	f(0, "--listen", "127.0.0.1:0")
}
