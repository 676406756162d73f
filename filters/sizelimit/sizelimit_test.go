package sizelimit

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

func TestHandle(t *testing.T) {
	f, err := New(filtertest.Spec("sizelimit", "r", "{max_bytes: 8, max_query_bytes: 4}", nil))
	if err != nil {
		t.Fatal(err)
	}
	check := func(target, body string, declared int64, want *filters.Reason) {
		t.Helper()
		ex := filtertest.NewExchange("POST", target, nil, []byte(body))
		defer filters.ReleaseExchange(ex)
		if declared != 0 {
			ex.ContentLength = declared
		}
		if got := f.Handle(ex).Reason(); got != want {
			t.Errorf("%s %q (declared %d): reason %v, want %v", target, body, declared, got, want)
		}
	}
	check("/x", "12345678", 0, nil)
	check("/x", "123456789", 0, reasonBody)
	check("/x", "", 1<<20, reasonBody) // a streamed body's declared length
	check("/x?abcd", "", 0, nil)
	check("/x?abcde", "", 0, reasonQuery)
}

func TestConfigErrors(t *testing.T) {
	f := func(src, want string) {
		t.Helper()
		_, err := New(filtertest.Spec("sizelimit", "r", src, nil))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(%q) error %v, want %q", src, err, want)
		}
	}
	f("{max_bytes: lots}", "invalid size")
	f("{max_bites: 8}", "field max_bites not found")
}

// TestConfigErrorPositions: a limit written as 0 is reported at its
// setting, each one written; with none written, at the entry.
func TestConfigErrorPositions(t *testing.T) {
	const zero = `: filter "sizelimit": %s: 0 is no limit, and the filter sets no other: want a positive max_bytes or max_query_bytes`
	f := func(src string, want ...string) {
		t.Helper()
		_, err := New(filtertest.Spec("sizelimit", "r", src, nil))
		if err == nil || err.Error() != strings.Join(want, "\n") {
			t.Errorf("New(%q) error\n%v\nwant\n%s", src, err, strings.Join(want, "\n"))
		}
	}
	f("", `test.yaml:1:1: filter "sizelimit": set max_bytes or max_query_bytes`)
	f("{}", `test.yaml:1:1: filter "sizelimit": set max_bytes or max_query_bytes`)
	f("{max_bytes: 0}", "test.yaml:1:13"+fmt.Sprintf(zero, "max_bytes"))
	f("max_query_bytes: 0B\n", "test.yaml:1:18"+fmt.Sprintf(zero, "max_query_bytes"))
	f("max_bytes: 0\nmax_query_bytes: 0\n", "test.yaml:1:12"+fmt.Sprintf(zero, "max_bytes"), "test.yaml:2:18"+fmt.Sprintf(zero, "max_query_bytes"))
	if _, err := New(filtertest.Spec("sizelimit", "r", "{max_bytes: 0, max_query_bytes: 1KiB}", nil)); err != nil {
		t.Errorf("a 0 beside a limit: %v", err)
	}
}
