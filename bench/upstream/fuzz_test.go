package upstream

import "testing"

// FuzzParseSize checks that ParseSize never panics, stays within bounds, and
// accepts what it prints back.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "64k", "1GiB", "1000KB", "-1", "9223372036854775807k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			return
		}
		if n < 0 || n > MaxDownloadSize {
			t.Fatalf("ParseSize(%q) = %d, out of bounds", s, n)
		}
		if m, err := ParseSize(itoa(n)); err != nil || m != n {
			t.Fatalf("ParseSize(%q) = %d, but its decimal form gives %d, %v", s, n, m, err)
		}
	})
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}
