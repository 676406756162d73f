package sizelimit

import (
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
	f("", "set max_bytes or max_query_bytes")
	f("{max_bytes: lots}", "invalid size")
	f("{max_bites: 8}", "field max_bites not found")
}
