package admin

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestTokenGuardsEverythingButLiveness(t *testing.T) {
	s := New(Options{
		Listen:       "127.0.0.1:0",
		Token:        "s3cret-admin-token",
		WriteMetrics: func(w io.Writer) { io.WriteString(w, "tollgate_test 1\n") },
	})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	base := "http://" + s.Addr().String()
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	f := func(path, token string, want int) {
		t.Helper()
		if got, body := get(path, token); got != want {
			t.Errorf("GET %s with token %q: %d, want %d: %s", path, token, got, want, body)
		}
	}
	f("/healthz", "", 200)
	f("/metrics", "", 401)
	f("/metrics", "wrong", 401)
	f("/readyz", "", 401)
	f("/debug/pprof/", "", 401)
	f("/metrics", "s3cret-admin-token", 200)
	if _, body := get("/metrics", "s3cret-admin-token"); !strings.Contains(body, "tollgate_test 1") {
		t.Errorf("metrics body %q", body)
	}
}
