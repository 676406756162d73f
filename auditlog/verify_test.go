package auditlog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func verifyErrContains(t *testing.T, name string, opts VerifyOptions, want string) {
	t.Helper()
	_, err := Verify(opts)
	if !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: err = %v, want %q", name, err, want)
	}
}

// TestTamperRollbackFork: an edited record with a fixed CRC, a log signed
// again with another key, a rolled-back copy and a forked log are each
// caught by verify with a pinned key and a trusted checkpoint.
func TestTamperRollbackFork(t *testing.T) {
	_, vkey := testKeys(t)
	base := t.TempDir()
	writeLog(t, base, 600, nil)
	trustedOld, _ := os.ReadFile(filepath.Join(base, checkpointFile))
	rolledBack := t.TempDir()
	copyDir(t, base, rolledBack)
	o := testOptions(t, base)
	l, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 600, 400)
	l.Close()
	trustedNew, _ := os.ReadFile(filepath.Join(base, checkpointFile))

	// The honest log passes, from an old trusted checkpoint too.
	if _, err := Verify(VerifyOptions{Dir: base, VerifierKey: vkey, Trusted: trustedOld}); err != nil {
		t.Fatalf("honest log: %v", err)
	}
	// Rollback: the copy taken at 600 records against the checkpoint at 1000.
	verifyErrContains(t, "rollback", VerifyOptions{Dir: rolledBack, VerifierKey: vkey, Trusted: trustedNew}, "rollback")

	// Tamper: change one record's status inside a block and rebuild the
	// block with a valid CRC.
	tampered := t.TempDir()
	copyDir(t, base, tampered)
	seg, refs := lastBlocks(t, tampered)
	seg = filepath.Join(tampered, filepath.Base(seg))
	ref := refs[len(refs)-1]
	c, _ := newBlockCodec()
	f, _ := os.OpenFile(seg, os.O_RDWR, 0)
	blk := make([]byte, ref.h.size())
	f.ReadAt(blk, ref.off)
	raw, err := c.decodeBlock(&ref.h, blk)
	if err != nil {
		t.Fatal(err)
	}
	raw = append([]byte(nil), raw...)
	i := strings.Index(string(raw), "/v1/orders/")
	raw[i+1] = 'V' // "/V1/orders/…"
	nb := c.appendBlock(nil, raw, ref.h.first, int(ref.h.count), ref.h.minTs, ref.h.maxTs)
	f.WriteAt(nb, ref.off)
	f.Close()
	verifyErrContains(t, "tamper", VerifyOptions{Dir: tampered, VerifierKey: vkey}, "do not match the checkpoint")

	// Re-signed: the same records in a log signed with another key.
	other := t.TempDir()
	oskey, _, _ := GenerateKey("audit.test/tollgate")
	writeLog(t, other, 1000, func(o *Options) { o.SigningKey = oskey })
	verifyErrContains(t, "re-signed", VerifyOptions{Dir: other, VerifierKey: vkey}, "verification failed")

	// Fork: a log with the same key whose record 10 differs.
	fork := t.TempDir()
	fo := testOptions(t, fork)
	fo.Durability = DurabilityAsync
	l, err = Open(fo)
	if err != nil {
		t.Fatal(err)
	}
	var e Entry
	for i := 0; i < 1000; i++ {
		testEntry(&e, i)
		if i == 10 {
			e.Status = 500
		}
		for {
			if _, err = l.Append(&e); err != ErrQueueFull {
				break
			}
		}
	}
	l.Close()
	verifyErrContains(t, "fork", VerifyOptions{Dir: fork, VerifierKey: vkey, Trusted: trustedNew}, "fork")
	verifyErrContains(t, "fork from older", VerifyOptions{Dir: fork, VerifierKey: vkey, Trusted: trustedOld}, "do not match")

	// A deleted checkpoint log entry after the file: the checkpoint file is
	// no longer in the log.
	cut := t.TempDir()
	copyDir(t, base, cut)
	b, _ := os.ReadFile(filepath.Join(cut, checkpointsLog))
	frames, _, _ := parseCheckpointFrames(b)
	var keep []byte
	for _, fr := range frames[:len(frames)-1] {
		keep = appendCheckpointFrame(keep, fr)
	}
	os.WriteFile(filepath.Join(cut, checkpointsLog), keep, 0o644)
	verifyErrContains(t, "dropped checkpoint", VerifyOptions{Dir: cut, VerifierKey: vkey}, "is not in")
}
