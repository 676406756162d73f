package auditlog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Dir is the log directory.
	Dir string
	// VerifierKey pins the checkpoint key (vkey). Without it, checkpoint
	// signatures are not checked and Result.Signed is false.
	VerifierKey string
	// Trusted is a checkpoint the auditor saved earlier (signed note).
	// Verify fails unless the log still extends it: a smaller log is a
	// rollback, a different root at its size a fork.
	Trusted []byte
	// Progress, if set, is called after each block with the records checked
	// so far and the total.
	Progress func(done, total uint64)
}

// VerifyResult summarizes a successful verification.
type VerifyResult struct {
	Records     uint64
	Blocks      int
	Segments    int
	Checkpoints int
	Bytes       int64
	Latest      Checkpoint
	Signed      bool
	// Pruned is the number of records retention deleted (the first
	// retained index); Records counts them too.
	Pruned uint64
	// PrunedCheckpoints counts checkpoints inside the pruned prefix whose
	// roots could not be recomputed from the kept tree hashes; their
	// signatures, sizes and fork freedom were still checked.
	PrunedCheckpoints int
}

// ErrVerify reports a verification failure. The error text names the first
// bad file and offset where there is one.
var ErrVerify = errors.New("auditlog: verification failed")

func verifyFail(err error) error { return fmt.Errorf("%w: %w", ErrVerify, err) }

func verifyErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrVerify}, args...)...)
}

// Verify checks a whole log offline: every block's CRC, bounds, decoding
// and index continuity; the stored tree hashes against the records; every
// checkpoint's signature and root (recomputed from the records, which also
// proves each checkpoint consistent with every earlier one); and, with a
// trusted checkpoint, a tlog consistency proof from it to the latest.
//
// After retention the records before the first retained index are gone:
// the tree is continued from the kept hashes (see retention.go), so every
// checkpoint from that index on is checked as before, and the kept hashes
// are vouched for by the first of them. Older checkpoints are checked from
// the kept hashes where those determine the root (sizes that are multiples
// of 256 or inside the boundary tile) and counted in PrunedCheckpoints
// otherwise. Segments must start exactly at the first retained index and
// follow each other without a gap.
func Verify(opts VerifyOptions) (VerifyResult, error) {
	var res VerifyResult
	var v note.Verifier
	if opts.VerifierKey != "" {
		var err error
		if v, err = note.NewVerifier(opts.VerifierKey); err != nil {
			return res, fmt.Errorf("cannot parse verifier key: %w", err)
		}
		res.Signed = true
	}
	open := func(msg []byte) (Checkpoint, error) {
		if v != nil {
			return OpenCheckpoint(msg, v)
		}
		return parseCheckpointUnverified(msg)
	}

	// 1. Checkpoints: signatures, origins, monotonic sizes, no fork.
	cpPath := filepath.Join(opts.Dir, checkpointsLog)
	cpData, err := os.ReadFile(cpPath)
	if err != nil {
		return res, fmt.Errorf("cannot read checkpoint log: %w", err)
	}
	frames, valid, perr := parseCheckpointFrames(cpData)
	if perr != nil {
		return res, verifyFail(&OffsetError{File: cpPath, Offset: int64(valid), Err: perr})
	}
	var cps []Checkpoint
	off := 0
	for _, fr := range frames {
		cp, err := open(fr)
		if err != nil {
			return res, verifyFail(&OffsetError{File: cpPath, Offset: int64(off), Err: err})
		}
		if n := len(cps); n > 0 {
			prev := cps[n-1]
			if cp.Origin != prev.Origin {
				return res, verifyFail(&OffsetError{File: cpPath, Offset: int64(off), Err: fmt.Errorf("origin changed from %q to %q", prev.Origin, cp.Origin)})
			}
			if cp.Size < prev.Size {
				return res, verifyFail(&OffsetError{File: cpPath, Offset: int64(off), Err: fmt.Errorf("checkpoint size went back from %d to %d", prev.Size, cp.Size)})
			}
			if cp.Size == prev.Size && cp.Root != prev.Root {
				return res, verifyFail(&OffsetError{File: cpPath, Offset: int64(off), Err: fmt.Errorf("two roots at size %d (fork)", cp.Size)})
			}
		}
		cps = append(cps, cp)
		off += cpFrameOverhead + len(fr)
	}
	res.Checkpoints = len(cps)
	if msg, err := os.ReadFile(filepath.Join(opts.Dir, checkpointFile)); err == nil {
		cp, err := open(msg)
		if err != nil {
			return res, verifyErr("%s: %v", checkpointFile, err)
		}
		if len(cps) == 0 || !containsCheckpoint(cps, cp) {
			return res, verifyErr("%s (size %d) is not in %s", checkpointFile, cp.Size, checkpointsLog)
		}
	}
	var trusted *Checkpoint
	if len(opts.Trusted) > 0 {
		cp, err := open(opts.Trusted)
		if err != nil {
			return res, verifyErr("trusted checkpoint: %v", err)
		}
		if len(cps) > 0 && cp.Origin != cps[0].Origin {
			return res, verifyErr("trusted checkpoint is for %q, the log is %q", cp.Origin, cps[0].Origin)
		}
		trusted = &cp
	}
	// Roots to check at each size.
	want := map[uint64]tlog.Hash{}
	for _, cp := range cps {
		want[cp.Size] = cp.Root
	}
	if trusted != nil {
		if r, ok := want[trusted.Size]; ok && r != trusted.Root {
			return res, verifyErr("fork: the trusted checkpoint and %s disagree at size %d", checkpointsLog, trusted.Size)
		}
		want[trusted.Size] = trusted.Root
	}

	// 2. Records: blocks, decoding, continuity, leaves → roots and tiles.
	segs, _, ps, err := retainedSegments(opts.Dir)
	if err != nil {
		return res, verifyFail(err)
	}
	res.Pruned = ps.first
	res.Segments = len(segs)
	set, err := newSegmentSet(opts.Dir, segs, true)
	if err != nil {
		return res, err
	}
	defer set.close()
	total, _ := set.count() // for progress only; the scan below reports damage where it is
	set.blocks = make([][]blockRef, len(segs))
	ts, err := openTileStore(opts.Dir, openReadOnly)
	if err != nil {
		return res, err
	}
	defer ts.close()
	var rng compactRange
	rng.visit = func(level int, index uint64, h tlog.Hash) error {
		if k := level / tileHeight; k < len(ts.files) && ts.files[k] != nil && index < ts.written[k] {
			return ts.visit(level, index, h)
		}
		return nil
	}
	sizes := make([]uint64, 0, len(want))
	for s := range want {
		sizes = append(sizes, s)
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i] < sizes[j] })
	checkRoot := func(file string, off int64) error {
		// Sizes stepped over while seeding a pruned prefix (256 leaves at a
		// time) cannot be recomputed.
		for len(sizes) > 0 && sizes[0] < rng.n {
			if trusted != nil && sizes[0] == trusted.Size {
				return verifyErr("the trusted checkpoint (size %d) lies inside the pruned prefix (%d records) and cannot be checked", trusted.Size, ps.first)
			}
			res.PrunedCheckpoints++
			sizes = sizes[1:]
		}
		if len(sizes) > 0 && sizes[0] == rng.n {
			if rng.root() != want[rng.n] {
				return verifyFail(&OffsetError{File: file, Offset: off,
					Err: fmt.Errorf("the records do not match the checkpoint at size %d", rng.n)})
			}
			sizes = sizes[1:]
		}
		return nil
	}
	if err := checkRoot(cpPath, 0); err != nil {
		return res, err
	}
	if err := ps.seed(&rng, ts, func() error { return checkRoot(filepath.Join(opts.Dir, prunedFile), 0) }); err != nil {
		if errors.Is(err, ErrVerify) {
			return res, err
		}
		return res, verifyFail(err)
	}
	next := ps.first
	for si, seg := range segs {
		src, err := set.source(si)
		if err != nil {
			return res, verifyFail(err)
		}
		if seg.first != next {
			what := "a segment is missing"
			if si == 0 {
				what = fmt.Sprintf("records before it are missing and retention kept records from %d", next)
			}
			return res, verifyFail(&OffsetError{File: seg.path, Err: fmt.Errorf("%w: segment starts at index %d, want %d (%s)", ErrBadBlock, seg.first, next, what)})
		}
		// Check each block before stepping over it, so a damaged length is
		// reported at its own block.
		_, next, err = scanBlocks(src, src.Size(), si, seg.first, func(ref blockRef) error {
			if err := set.load(ref); err != nil {
				return err
			}
			for i, leaf := range set.curLeafs {
				if err := rng.appendLeaf(tlog.RecordHash(leaf)); err != nil {
					return &OffsetError{File: seg.path, Offset: ref.off, Err: fmt.Errorf("record %d: %w", ref.h.first+uint64(i), err)}
				}
				if err := checkRoot(seg.path, ref.off); err != nil {
					return err
				}
			}
			res.Blocks++
			res.Bytes += ref.h.size()
			if opts.Progress != nil {
				opts.Progress(rng.n, total)
			}
			return nil
		})
		if err != nil {
			if errors.Is(err, ErrVerify) {
				return res, err
			}
			return res, verifyFail(withFile(err, seg.path))
		}
	}
	res.Records = rng.n
	if len(sizes) > 0 {
		what := "a checkpoint"
		if trusted != nil && sizes[len(sizes)-1] == trusted.Size && trusted.Size > rng.n {
			what = "the trusted checkpoint"
		}
		return res, verifyErr("rollback: the log holds %d records but %s covers %d", rng.n, what, sizes[len(sizes)-1])
	}
	if len(cps) > 0 {
		res.Latest = cps[len(cps)-1]
	}
	if ps.first > 0 && res.Latest.Size < ps.first {
		return res, verifyErr("no checkpoint covers the first retained index %d, so nothing vouches for the kept tree hashes of the pruned prefix", ps.first)
	}

	// 3. Consistency proof from the trusted checkpoint to the latest, by tlog.
	if trusted != nil && len(cps) > 0 && trusted.Size > 0 {
		latest := res.Latest
		if latest.Size < trusted.Size {
			return res, verifyErr("rollback: latest checkpoint %d is older than the trusted %d", latest.Size, trusted.Size)
		}
		tr := &tileReader{dir: opts.Dir, leafHashes: set.leafHashes, pruned: ps}
		hr := tlog.TileHashReader(tlog.Tree{N: int64(latest.Size), Hash: latest.Root}, tr)
		p, err := tlog.ProveTree(int64(latest.Size), int64(trusted.Size), hr)
		if err == nil {
			err = tlog.CheckTree(p, int64(latest.Size), latest.Root, int64(trusted.Size), trusted.Root)
		}
		if err != nil {
			return res, verifyErr("the log is not consistent with the trusted checkpoint: %v", err)
		}
	}
	return res, nil
}

func containsCheckpoint(cps []Checkpoint, cp Checkpoint) bool {
	i := sort.Search(len(cps), func(i int) bool { return cps[i].Size >= cp.Size })
	return i < len(cps) && cps[i].Size == cp.Size && cps[i].Root == cp.Root
}

// openReadOnly opens files for verification only.
func openReadOnly(name string, _ int, _ os.FileMode) (file, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return roFile{osFile{f}}, nil
}

type roFile struct{ osFile }

var errReadOnly = errors.New("auditlog: read-only")

func (roFile) WriteAt([]byte, int64) (int, error) { return 0, errReadOnly }
func (roFile) Truncate(int64) error               { return errReadOnly }
func (roFile) Allocate(int64) error               { return errReadOnly }

var _ io.ReaderAt = roFile{}
