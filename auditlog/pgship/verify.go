package pgship

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tollgate-proxy/tollgate/auditlog"
)

// Problem is one thing wrong with the shipped copy of a log.
type Problem struct {
	// Origin is the log the problem is in.
	Origin string
	// Index is the first record concerned, -1 when none is.
	Index int64
	// Msg says what is wrong.
	Msg string
}

func (p Problem) String() string {
	if p.Index < 0 {
		return fmt.Sprintf("origin %q: %s", p.Origin, p.Msg)
	}
	return fmt.Sprintf("origin %q index %d: %s", p.Origin, p.Index, p.Msg)
}

// OriginResult summarizes one origin's shipped records.
type OriginResult struct {
	Origin      string
	Records     uint64
	Checkpoints int
	// Latest is the largest checkpoint whose root and signature matched.
	Latest auditlog.Checkpoint
	// Unsigned counts the records past the last shipped checkpoint: shipped
	// but not yet covered by a signature.
	Unsigned uint64
}

// VerifyResult is what Verify found: one summary per origin, and every
// problem (none when the database verifies).
type VerifyResult struct {
	Origins  []OriginResult
	Problems []Problem
}

// Page sizes: Verify holds at most this many rows at once.
const (
	recordPage     = 8192
	checkpointPage = 1024
)

// Verify checks every origin in the database against its signed
// checkpoints (see the package doc). vkeys are the verifier keys
// (signed-note form), one per origin, named by it; an origin without a
// key is a problem, not a pass. The error is for failures to read the
// database; what is wrong with its contents is in the result.
func Verify(ctx context.Context, url string, vkeys []string) (VerifyResult, error) {
	var res VerifyResult
	verifiers := map[string]note.Verifier{}
	for _, k := range vkeys {
		v, err := note.NewVerifier(k)
		if err != nil {
			return res, fmt.Errorf("cannot parse verifier key: %w", err)
		}
		verifiers[v.Name()] = v
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return res, fmt.Errorf("cannot connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	origins, err := Origins(ctx, conn)
	if err != nil {
		return res, err
	}
	for _, o := range origins {
		v := verifiers[o]
		if v == nil {
			res.Problems = append(res.Problems, Problem{Origin: o, Index: -1, Msg: "no verifier key for this origin (pass its --key)"})
			continue
		}
		or, probs, err := verifyOrigin(ctx, conn, o, v)
		if err != nil {
			return res, err
		}
		res.Origins = append(res.Origins, or)
		res.Problems = append(res.Problems, probs...)
	}
	return res, nil
}

type cpRow struct {
	size uint64
	root []byte
	note string
}

// originVerifier walks one origin's records and checkpoints in index
// order with a compact range: constant memory whatever the log's size.
type originVerifier struct {
	origin  string
	v       note.Verifier
	rng     *compact.Range
	next    uint64 // the index the next record must have
	broken  bool   // the tree cannot be rebuilt past here (a gap or a failed root)
	named   bool   // a record problem was named since the last good checkpoint
	prevCP  uint64
	res     OriginResult
	probs   []Problem
	cps     []cpRow
	cpAfter int64 // the size the next checkpoint page starts after
	cpDone  bool
	gapTo   uint64 // the largest checkpoint size past the records seen
}

func (ov *originVerifier) problem(idx int64, format string, args ...any) {
	ov.probs = append(ov.probs, Problem{Origin: ov.origin, Index: idx, Msg: fmt.Sprintf(format, args...)})
}

// nextCheckpoint returns the next checkpoint, paging them in.
func (ov *originVerifier) nextCheckpoint(ctx context.Context, conn *pgx.Conn) (*cpRow, error) {
	if len(ov.cps) == 0 && !ov.cpDone {
		rows, err := conn.Query(ctx, `SELECT size, root, note FROM `+CheckpointsTable+` WHERE origin = $1 AND size > $2 ORDER BY size LIMIT `+fmt.Sprint(checkpointPage), ov.origin, ov.cpAfter)
		if err != nil {
			return nil, fmt.Errorf("cannot read checkpoints: %w", err)
		}
		for rows.Next() {
			var c cpRow
			var size int64
			if err := rows.Scan(&size, &c.root, &c.note); err != nil {
				rows.Close()
				return nil, fmt.Errorf("cannot read checkpoints: %w", err)
			}
			c.size = uint64(size)
			ov.cps = append(ov.cps, c)
			ov.cpAfter = size
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("cannot read checkpoints: %w", err)
		}
		ov.cpDone = len(ov.cps) < checkpointPage
	}
	if len(ov.cps) == 0 {
		return nil, nil
	}
	return &ov.cps[0], nil
}

// checkpoint checks one checkpoint against the records before it.
func (ov *originVerifier) checkpoint(c *cpRow) {
	ov.res.Checkpoints++
	cp, err := auditlog.OpenCheckpoint([]byte(c.note), ov.v)
	if err != nil {
		ov.problem(-1, "checkpoint at size %d: %v", c.size, err)
		ov.broken = true
		return
	}
	if cp.Size != c.size || !bytes.Equal(cp.Root[:], c.root) {
		ov.problem(-1, "checkpoint at size %d: its size and root columns disagree with its signed note (size %d)", c.size, cp.Size)
	}
	if c.size > ov.next {
		// Records it covers are missing: named once, by the record that
		// follows the gap or, at the end, by the largest such checkpoint.
		ov.gapTo = max(ov.gapTo, c.size)
		ov.broken = true
		return
	}
	if ov.broken {
		return
	}
	root, err := ov.rng.GetRootHash(nil)
	if err != nil {
		ov.problem(-1, "cannot compute the root at size %d: %v", c.size, err)
		ov.broken = true
		return
	}
	if c.size == 0 {
		root = rfc6962.DefaultHasher.EmptyRoot()
	}
	if !bytes.Equal(root, cp.Root[:]) {
		if !ov.named {
			ov.problem(int64(ov.prevCP), "records %d to %d do not match the signed checkpoint at size %d: one of them was changed", ov.prevCP, c.size-1, c.size)
		} else {
			ov.problem(-1, "the signed checkpoint at size %d does not match the records (see above)", c.size)
		}
		ov.broken = true
		return
	}
	ov.res.Latest, ov.prevCP, ov.named = cp, c.size, false
}

func verifyOrigin(ctx context.Context, conn *pgx.Conn, origin string, v note.Verifier) (OriginResult, []Problem, error) {
	rf := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	ov := &originVerifier{origin: origin, v: v, rng: rf.NewEmptyRange(0), cpAfter: -1}
	ov.res.Origin = origin
	// checkpointsUpTo checks every checkpoint of size ≤ n.
	checkpointsUpTo := func(n uint64) error {
		for {
			c, err := ov.nextCheckpoint(ctx, conn)
			if err != nil || c == nil || c.size > n {
				return err
			}
			ov.checkpoint(c)
			ov.cps = ov.cps[1:]
		}
	}
	if err := checkpointsUpTo(0); err != nil {
		return ov.res, nil, err
	}
	var (
		rec  auditlog.Record
		cols colRow
		leaf []byte
	)
	after := int64(-1)
	for {
		rows, err := conn.Query(ctx, `SELECT idx, leaf, kind, start_ns, start_time, duration_ns, request_id, auth, method, route, path, status, decision, reason
			FROM `+RecordsTable+` WHERE origin = $1 AND idx > $2 ORDER BY idx LIMIT `+fmt.Sprint(recordPage), origin, after)
		if err != nil {
			return ov.res, nil, fmt.Errorf("cannot read records: %w", err)
		}
		type pageRow struct {
			idx  int64
			leaf []byte
			cols colRow
		}
		var page []pageRow
		for rows.Next() {
			var idx int64
			if err := rows.Scan(&idx, &leaf, &cols.kind, &cols.start, &cols.startTime, &cols.duration, &cols.requestID, &cols.auth, &cols.method,
				&cols.route, &cols.path, &cols.status, &cols.decision, &cols.reason); err != nil {
				rows.Close()
				return ov.res, nil, fmt.Errorf("cannot read records: %w", err)
			}
			page = append(page, pageRow{idx, append([]byte(nil), leaf...), cols})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return ov.res, nil, fmt.Errorf("cannot read records: %w", err)
		}
		for _, r := range page {
			idx := uint64(r.idx)
			if idx != ov.next {
				if err := checkpointsUpTo(idx - 1); err != nil { // those are reported as missing records
					return ov.res, nil, err
				}
				if idx-1 == ov.next {
					ov.problem(int64(ov.next), "record %d is missing", ov.next)
				} else {
					ov.problem(int64(ov.next), "records %d to %d are missing", ov.next, idx-1)
				}
				ov.broken = true
				ov.next = idx
			}
			ov.res.Records++
			if err := auditlog.DecodeEntry(r.leaf, &rec); err != nil {
				ov.problem(r.idx, "the leaf bytes do not decode: %v", err)
				ov.named = true
			} else if col := r.cols.mismatch(&rec); col != "" {
				ov.problem(r.idx, "column %s does not match the record's leaf bytes", col)
				ov.named = true
			}
			h := tlog.RecordHash(r.leaf) // RFC 6962 §2.1: SHA-256(0x00 || leaf)
			if !ov.broken {
				if err := ov.rng.Append(h[:], nil); err != nil {
					return ov.res, nil, fmt.Errorf("cannot extend the tree: %w", err)
				}
			}
			ov.next++
			if err := checkpointsUpTo(ov.next); err != nil {
				return ov.res, nil, err
			}
		}
		if len(page) < recordPage {
			break
		}
		after = page[len(page)-1].idx
	}
	// Checkpoints past the last record cover records that are not there.
	if err := checkpointsUpTo(1<<62 - 1); err != nil {
		return ov.res, nil, err
	}
	if ov.gapTo > ov.next {
		ov.problem(int64(ov.next), "records %d to %d are missing: the checkpoint at size %d covers them", ov.next, ov.gapTo-1, ov.gapTo)
	}
	if ov.res.Checkpoints == 0 && ov.res.Records > 0 {
		ov.problem(-1, "no signed checkpoint covers its %d records", ov.res.Records)
	}
	if ov.next > ov.res.Latest.Size {
		ov.res.Unsigned = ov.next - ov.res.Latest.Size
	}
	return ov.res, ov.probs, nil
}

// colRow holds the decoded columns of a record row, checked against the
// leaf they were decoded from.
type colRow struct {
	kind, requestID, auth, method, route, path, decision, reason string
	start, duration                                              int64
	status                                                       int32
	startTime                                                    time.Time
}

// mismatch names the first column that is not what the leaf says.
func (c *colRow) mismatch(rec *auditlog.Record) string {
	switch {
	case c.kind != rec.Kind.String():
		return "kind"
	case c.start != rec.Start:
		return "start_ns"
	case !c.startTime.Equal(time.Unix(0, rec.Start).Truncate(time.Microsecond)):
		return "start_time"
	case c.duration != rec.Duration:
		return "duration_ns"
	case c.requestID != text(rec.RequestID):
		return "request_id"
	case c.auth != text(rec.AuthMethod):
		return "auth"
	case c.method != text(rec.Method):
		return "method"
	case c.route != text(rec.Route):
		return "route"
	case c.path != text(rec.Path):
		return "path"
	case c.status != int32(rec.Status):
		return "status"
	case c.decision != rec.Decision.String():
		return "decision"
	case c.reason != text(rec.Reason):
		return "reason"
	}
	return ""
}
