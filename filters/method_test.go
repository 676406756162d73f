package filters

import (
	"fmt"
	"strings"
	"testing"
)

func TestMethodTable(t *testing.T) {
	var mt MethodTable
	for _, c := range []struct {
		method string
		bit    uint64
		err    string
	}{
		{"GET", MethodGET, ""},
		{"TRACE", MethodTRACE, ""},
		{"PURGE", 1 << NumStdMethods, ""},
		{"LINK", 1 << (NumStdMethods + 1), ""},
		{"PURGE", 1 << NumStdMethods, ""},       // known: same bit
		{"purge", 1 << (NumStdMethods + 2), ""}, // custom methods are case-sensitive tokens
		{"get", 0, `method "get": method names are case-sensitive; write "GET"`},
		{"GE T", 0, `invalid method "GE T"`},
		{"", 0, `invalid method ""`},
	} {
		b, err := mt.Add(c.method)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("Add(%q): %v, want %q", c.method, err, c.err)
			}
			continue
		}
		if err != nil || b != c.bit {
			t.Errorf("Add(%q) = %#x, %v; want %#x", c.method, b, err, c.bit)
		}
		if got := mt.Bit([]byte(c.method)); got != c.bit {
			t.Errorf("Bit(%q) = %#x, want %#x", c.method, got, c.bit)
		}
	}
	if b := mt.Bit([]byte("MOVE")); b != 0 {
		t.Errorf("Bit of an unknown method = %#x, want 0", b)
	}
	mask := MethodDELETE | MethodGET | 1<<(NumStdMethods+1) | MethodOther
	if got := string(mt.AppendNames(nil, mask, ", ")); got != "GET, DELETE, LINK" {
		t.Errorf("AppendNames = %q", got)
	}
	if got := strings.Join(mt.Names(mask), " "); got != "GET DELETE LINK" {
		t.Errorf("Names = %q", got)
	}
}

func TestMethodTableFull(t *testing.T) {
	var mt MethodTable
	for i := 0; i < MaxCustomMethods; i++ {
		if _, err := mt.Add(fmt.Sprintf("M%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mt.Add("ONE-MORE"); err == nil || !strings.Contains(err.Error(), "custom methods") {
		t.Fatalf("Add past the limit: %v", err)
	}
	// The last custom bit is below MethodOther.
	if b := mt.Bit([]byte(fmt.Sprintf("M%d", MaxCustomMethods-1))); b != MethodOther>>1 {
		t.Fatalf("last custom bit %#x", b)
	}
}

func BenchmarkMethodBit(b *testing.B) {
	var mt MethodTable
	_, _ = mt.Add("PURGE")
	m := []byte("DELETE")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if mt.Bit(m) == 0 {
			b.Fatal("unknown")
		}
	}
}
