package auditlog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// writeLog writes n test records to a new log in dir and closes it.
func writeLog(t testing.TB, dir string, n int, mod func(*Options)) {
	t.Helper()
	o := testOptions(t, dir)
	o.Durability = DurabilityAsync // the order of one caller is kept; faster to set up
	if mod != nil {
		mod(&o)
	}
	l, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 0, n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestScanAndReveal(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, 3000, nil)
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n, err := r.Size()
	if err != nil || n != 3000 {
		t.Fatalf("size %d, %v", n, err)
	}
	var want Entry
	count := 0
	err = r.Scan(&Filter{}, func(idx uint64, rec *Record) error {
		testEntry(&want, int(idx))
		if !rec.Revealed || string(rec.Principal) != string(want.Principal) || rec.ClientIP != want.ClientIP {
			return fmt.Errorf("record %d: principal %q ip %v revealed %v", idx, rec.Principal, rec.ClientIP, rec.Revealed)
		}
		if string(rec.Path) != string(want.Path) || rec.Start != want.Start || rec.Decision != want.Decision {
			return fmt.Errorf("record %d: mismatch", idx)
		}
		count++
		return nil
	})
	if err != nil || count != 3000 {
		t.Fatalf("scan: %d records, %v", count, err)
	}
	// Filters and time skipping.
	f := func(flt Filter, want int) {
		t.Helper()
		got := 0
		if err := r.Scan(&flt, func(uint64, *Record) error { got++; return nil }); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("filter %+v: %d records, want %d", flt, got, want)
		}
	}
	f(Filter{Decision: "denied"}, 300)
	f(Filter{Status: 429}, 300)
	f(Filter{Principal: "user-5"}, 31)
	f(Filter{Since: testStart + 1000*1e6, Until: testStart + 1999*1e6}, 1000)
	f(Filter{From: 2990}, 10)
	f(Filter{Limit: 7}, 7)
	f(Filter{Reason: "authn.token_expired", Since: testStart + 2000*1e6}, 100)
}

func TestEraseSalt(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, 100, nil)
	n, err := EraseSalts(dir, testStart/1e9+2*86400, 0)
	if err != nil || n != 1 {
		t.Fatalf("erased %d, %v", n, err)
	}
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, rec, err := r.Record(5)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Revealed || len(rec.Principal) != 0 || !rec.HasPrincipal {
		t.Fatalf("principal still readable: %+v", rec)
	}
	js := string(rec.AppendJSON(nil, 5))
	if !strings.Contains(js, "principal_commitment") || strings.Contains(js, "user-") {
		t.Fatalf("json: %s", js)
	}
	_, vkey := testKeys(t)
	if _, err := Verify(VerifyOptions{Dir: dir, VerifierKey: vkey}); err != nil {
		t.Fatalf("verify after erasure: %v", err)
	}
	p, err := Prove(dir, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyProof(vkey, p); err != nil {
		t.Fatalf("proof after erasure: %v", err)
	}
}

func TestVerifyProveExport(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, 70000, func(o *Options) { o.CheckpointEvery = 5000 })
	_, vkey := testKeys(t)
	res, err := Verify(VerifyOptions{Dir: dir, VerifierKey: vkey})
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 70000 || res.Latest.Size != 70000 || res.Checkpoints < 2 {
		t.Fatalf("verify: %+v", res)
	}
	for _, idx := range []uint64{0, 1, 255, 256, 65535, 65536, 69999} {
		p, err := Prove(dir, idx)
		if err != nil {
			t.Fatal(err)
		}
		pr, err := VerifyProof(vkey, p)
		if err != nil {
			t.Fatalf("proof %d: %v", idx, err)
		}
		if pr.Index != idx || pr.Record.Start != testStart+int64(idx)*1e6 {
			t.Fatalf("proof %d: %+v", idx, pr)
		}
		// Any changed line must fail.
		lines := bytes.Split(p, []byte("\n"))
		for i := range lines {
			if len(lines[i]) == 0 {
				continue
			}
			mut := bytes.Clone(p)
			off := bytes.Index(mut, lines[i]) + len(lines[i])/2
			mut[off] ^= 0x01
			if _, err := VerifyProof(vkey, mut); err == nil {
				t.Fatalf("proof %d: mutated line %d verified", idx, i)
			}
		}
	}
	out := t.TempDir()
	exp, err := ExportTiles(dir, out)
	if err != nil {
		t.Fatal(err)
	}
	cp := exp.Checkpoint
	// Independent check of the export with x/mod over plain file reads.
	hr := tlog.TileHashReader(tlog.Tree{N: int64(cp.Size), Hash: cp.Root}, exportReader(out))
	if h, err := tlog.TreeHash(int64(cp.Size), hr); err != nil || h != cp.Root {
		t.Fatalf("export: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "tile", "entries", "273.p", "112")); err != nil {
		// 70000 = 273*256 + 112
		t.Fatalf("entry bundle missing: %v", err)
	}
	if _, err := Verify(VerifyOptions{Dir: dir, VerifierKey: "other+00000000+AQ=="}); err == nil {
		t.Fatal("verify accepted a bad key")
	}
	_ = errors.Is
}

// TestMixedCompression reopens one log with the other codec in turn: the
// blocks of each codec read back, verify and prove, and each block says
// which codec wrote it.
func TestMixedCompression(t *testing.T) {
	dir := t.TempDir()
	const per = 600
	codecs := []Compression{CompressionZstd, CompressionS2, CompressionZstd}
	for i, c := range codecs {
		o := testOptions(t, dir)
		o.Compression = c
		l, err := Open(o)
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, l, i*per, per)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	_, vkey := testKeys(t)
	res, err := Verify(VerifyOptions{Dir: dir, VerifierKey: vkey})
	if err != nil || res.Records != uint64(len(codecs)*per) {
		t.Fatalf("verify: %+v, %v", res, err)
	}
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var want Entry
	n := 0
	err = r.Scan(&Filter{}, func(idx uint64, rec *Record) error {
		testEntry(&want, int(idx))
		if string(rec.Path) != string(want.Path) || string(rec.Principal) != string(want.Principal) {
			return fmt.Errorf("record %d: path %q principal %q", idx, rec.Path, rec.Principal)
		}
		n++
		return nil
	})
	if err != nil || n != len(codecs)*per {
		t.Fatalf("scan: %d records, %v", n, err)
	}
	// The codec byte of every block matches the writer that made it.
	seen := map[uint8]int{}
	segs, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, sg := range segs {
		name := sg.path
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for off := int64(segHeaderSize); off < int64(len(b)); {
			h, err := parseBlockHeader(b[off:])
			if errors.Is(err, errEndOfData) {
				break
			}
			if err != nil {
				t.Fatalf("%s@%d: %v", name, off, err)
			}
			want := codecS2
			if h.first/per != 1 {
				want = codecZstd
			}
			if h.codec != uint8(want) {
				t.Fatalf("block at index %d: codec %d, want %d", h.first, h.codec, want)
			}
			seen[h.codec]++
			off += h.size()
		}
	}
	if seen[codecS2] == 0 || seen[codecZstd] == 0 {
		t.Fatalf("blocks per codec: %v", seen)
	}
	for _, idx := range []uint64{0, per, 2*per + 5} {
		p, err := Prove(dir, idx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := VerifyProof(vkey, p); err != nil {
			t.Fatalf("proof %d: %v", idx, err)
		}
	}
}

// TestUsage: the bytes Usage counts are the segments' bytes of records:
// a sealed segment's file past its header, and the active one's data
// past its header up to the end of data, not its preallocated tail; the
// records it counts are the log's.
func TestUsage(t *testing.T) {
	const n = 40000
	dir := t.TempDir()
	writeLog(t, dir, n, func(o *Options) { o.SegmentMaxBytes = 1 << 20 })
	segs, err := listSegments(dir)
	if err != nil || len(segs) < 3 {
		t.Fatalf("%d segments: %v", len(segs), err)
	}
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	u, err := r.Usage()
	if err != nil {
		t.Fatal(err)
	}
	var sealed int64
	for _, s := range segs[:len(segs)-1] {
		fi, err := os.Stat(s.path)
		if err != nil {
			t.Fatal(err)
		}
		sealed += fi.Size() - segHeaderSize
	}
	last := len(segs) - 1
	active := r.set.ends[last] - segHeaderSize
	fi, err := os.Stat(segs[last].path)
	if err != nil {
		t.Fatal(err)
	}
	if u.Segments != len(segs) || u.SealedBytes != sealed || u.ActiveBytes != active ||
		u.SealedRecords+u.ActiveRecords != n || u.SealedRecords < n/2 || u.ActiveRecords == 0 {
		t.Fatalf("usage %+v; want %d segments, %d sealed bytes, %d active bytes, %d records", u, len(segs), sealed, active, n)
	}
	if u.ActiveBytes >= fi.Size()-segHeaderSize {
		t.Fatalf("active bytes %d count the preallocated tail (file %d bytes)", u.ActiveBytes, fi.Size())
	}
}
