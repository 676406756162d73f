package upstream

import "testing"

func TestParseSize(t *testing.T) {
	f := func(in string, want int64) {
		t.Helper()
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Fatalf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	f("0", 0)
	f("1", 1)
	f("1024", 1024)
	f("10b", 10)
	f("64k", 64<<10)
	f("64K", 64<<10)
	f("64KiB", 64<<10)
	f("64kb", 64000)
	f("3m", 3<<20)
	f("3MiB", 3<<20)
	f("3MB", 3000000)
	f("1g", 1<<30)
	f("1GiB", 1<<30)
	f("2GB", 2000000000)
	f("1024g", MaxDownloadSize)
	f("1099511627776", MaxDownloadSize)

	bad := func(in string) {
		t.Helper()
		if got, err := ParseSize(in); err == nil {
			t.Fatalf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
	bad("")
	bad("k")
	bad("-1")
	bad("+1")
	bad("1.5m")
	bad("1 m")
	bad("1t")
	bad("1025g")
	bad("1099511627777")
	bad("99999999999999999999")
	bad("9223372036854775807k")
}
