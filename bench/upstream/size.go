package upstream

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxDownloadSize bounds /api/v1/download/{size}: 1 TiB.
const MaxDownloadSize = 1 << 40

var errSize = errors.New("upstream: invalid size")

// sizeUnits are tried in order, so longer suffixes come before their tails.
// The one-letter forms are binary, like the IEC forms: "64k" is 65536 bytes.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30},
	{"b", 1},
}

// ParseSize parses a download size: a plain integer of bytes, or an integer
// with a unit suffix, case-insensitive: k, m, g and KiB, MiB, GiB are powers
// of 1024; KB, MB, GB are powers of 1000; B is bytes. The result is at most
// MaxDownloadSize.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = t[:len(t)-len(u.suffix)], u.mult
			break
		}
	}
	if t == "" || t[0] == '+' || t[0] == '-' {
		return 0, fmt.Errorf("cannot parse size %q: %w", s, errSize)
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n > MaxDownloadSize/mult {
		return 0, fmt.Errorf("cannot parse size %q: want a non-negative integer of at most 1TiB with an optional unit (k, m, g, KiB, MiB, GiB, KB, MB, GB): %w", s, errSize)
	}
	return n * mult, nil
}
