package auditlog

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkSegmentWrite compares the two ways to put group commits into a
// preallocated segment under the same policy (one write per group,
// fdatasync every syncEvery groups): pwrite(2) against memcpy into a shared
// writable mapping of the same file.
func BenchmarkSegmentWrite(b *testing.B) {
	for _, group := range []int{512, 16 << 10} {
		for _, mode := range []string{"pwrite", "mmap"} {
			b.Run(mode+"/"+itoa(group), func(b *testing.B) {
				benchSegmentWrite(b, mode, group, 64)
			})
		}
	}
}

func itoa(n int) string {
	if n >= 1024 {
		return string(rune('0'+n/1024/10%10)) + string(rune('0'+n/1024%10)) + "KiB"
	}
	return "512B"
}

func benchSegmentWrite(b *testing.B, mode string, group, syncEvery int) {
	const size = 64 << 20
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "seg"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
		b.Fatal(err)
	}
	var m []byte
	if mode == "mmap" {
		if m, err = syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED); err != nil {
			b.Fatal(err)
		}
		defer syscall.Munmap(m)
	}
	buf := make([]byte, group)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	b.SetBytes(int64(group))
	b.ResetTimer()
	off := int64(0)
	for i := 0; i < b.N; i++ {
		if off+int64(group) > size {
			off = 0
		}
		if mode == "mmap" {
			copy(m[off:], buf)
		} else if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
		off += int64(group)
		if i%syncEvery == syncEvery-1 {
			if err := unix.Fdatasync(int(f.Fd())); err != nil {
				b.Fatal(err)
			}
		}
	}
}
