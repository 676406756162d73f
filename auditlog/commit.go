package auditlog

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"
)

// Committing the queue: who writes the records.
//
// A record is encoded by its caller and queued in the ring (ring.go); it
// is committed (given its index, appended to the tree, compressed into a
// block and written with pwrite, then acknowledged) by whoever holds
// seqMu. Earlier a sequencer goroutine did all of it: every group then
// cost a wake-up of that goroutine and, for an event loop, a wake-up of
// the loop to take the acknowledgement, and on the gnet engine those
// wake-ups (futex, nanosleep, sysmon retaking a P from a loop blocked in
// epoll_wait) cost more per request than the commit itself (BENCHMARKS.md,
// "Where the gnet engine's extra microseconds go").
//
// Now callers commit: after queueing, a caller that takes seqMu with
// TryLock commits everything queued, its own record and the others'
// (flat combining). A caller that finds seqMu held does not wait for it:
// the holder commits its record. The hand-off is Dekker's: a caller
// publishes its record (the ring's tail), then tries the lock; the holder
// unlocks, then reads the tail. With sequentially consistent atomics at
// least one of them sees the other's write, so either the caller takes
// the lock or the holder sees its record and commits it in another round.
// A holder commits at most maxCommitRounds rounds before it hands what is
// left to the log's goroutine, so one caller is never kept writing for
// others for long.
//
// An event loop queues with QueueFunc and calls Commit once per turn:
// the group then holds every record of the turn, the pwrite runs on the
// loop, and the acknowledgements of its own records come back on the
// loop, with no goroutine woken. The loop never blocks on what may take
// long: a commit that needs fdatasync (disk mode), a rotation (sealing
// syncs), a checkpoint (syncs and signs) or recovery is handed to the
// log's goroutine, which is woken for it. Callers that may block (Append,
// the goroutine engine) commit inline in every mode, and yield first
// (gather) so a group holds the records of a scheduling round.
//
// The log's goroutine (run) keeps what time drives: fdatasync every
// FsyncInterval, checkpoints by interval, the free-space check, recovery
// retries, and Close. It also commits what is queued at every tick, a net
// under the hand-off.

// maxCommitRounds bounds the groups one caller commits in a row.
const maxCommitRounds = 4

// commit writes what is queued unless someone else is writing it. onLoop
// says the caller is an event loop, which must not block on a sync.
func (l *Log) commit(onLoop bool) {
	for round := 1; ; round++ {
		if !l.seqMu.TryLock() {
			return // the holder looks at the queue after it unlocks
		}
		ok := l.commitInline(onLoop)
		l.seqMu.Unlock()
		switch {
		case !ok:
			l.wakeSequencer()
			return
		case l.queue.len() == 0:
			return
		case round == maxCommitRounds:
			l.wakeSequencer()
			return
		}
	}
}

// commitInline commits what is queued as one group, on the caller's
// goroutine, under seqMu. It reports false, committing nothing, when the
// log's goroutine must do it: the log is closing or broken, a group is
// held for it, or (onLoop) it needs a sync or a checkpoint is due. A
// caller that may block signs a checkpoint that its group made due, as
// the log's goroutine would before the next group; a loop wakes the log's
// goroutine for it, and leaves the commits to it until it is signed, so a
// checkpoint covers the group that made it due and no more.
func (l *Log) commitInline(onLoop bool) bool {
	if l.stopped || l.st == nil || !l.healthy.Load() || len(l.group) > 0 ||
		onLoop && (l.opts.Durability == DurabilityDisk || l.checkpointDue()) {
		return false
	}
	if l.queue.len() == 0 {
		return true
	}
	if !onLoop {
		l.gather()
	}
	l.drain()
	if l.rotationDue() {
		return false // l.group waits for the log's goroutine
	}
	l.commitGroup()
	if !onLoop {
		l.signIfDue()
	} else if l.checkpointDue() {
		l.wakeSequencer()
	}
	return true
}

// wakeSequencer asks the log's goroutine to look at the queue.
func (l *Log) wakeSequencer() {
	select {
	case l.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// run is the log's goroutine: it syncs and signs by time, seals segments,
// recovers a broken log, closes it, and commits what callers hand it (see
// the top of this file).
func (l *Log) run(lock *os.File) {
	defer close(l.done)
	defer lock.Close()
	t := time.NewTicker(l.tick())
	defer t.Stop()
	for {
		select {
		case <-l.wake:
		case <-t.C:
			l.seqMu.Lock()
			l.periodic()
			l.seqMu.Unlock()
		case <-l.stop:
			l.seqMu.Lock()
			l.stopping()
			l.seqMu.Unlock()
			return
		}
		l.seqMu.Lock()
		l.sequence()
		l.seqMu.Unlock()
		if l.queue.len() > 0 {
			l.wakeSequencer() // queued while it held seqMu
		}
	}
}

// sequence commits the held group and what is queued, and signs the
// checkpoints that come due, until the queue is empty. It runs on the
// log's goroutine under seqMu.
func (l *Log) sequence() {
	for {
		l.signIfDue()
		if len(l.group) == 0 {
			if l.queue.len() == 0 {
				return
			}
			l.gather()
			l.drain()
		}
		l.commitGroup()
	}
}

// checkpointDue reports that CheckpointEvery records were committed since
// the last checkpoint.
func (l *Log) checkpointDue() bool {
	return l.st != nil && l.healthy.Load() && l.st.n-l.cpSize() >= uint64(l.opts.CheckpointEvery)
}

// signIfDue signs the checkpoint that CheckpointEvery makes due, if it is.
func (l *Log) signIfDue() {
	if !l.checkpointDue() {
		return
	}
	if err := l.checkpoint(); err != nil {
		l.fail(err)
	}
}

// rotationDue reports that writing the drained group might seal the
// active segment (maybeRotate), which syncs: the bound is taken on the
// group's raw bytes as if nothing compressed.
func (l *Log) rotationDue() bool {
	st := l.st
	if st.off <= segHeaderSize {
		return false
	}
	raw := 0
	for _, s := range l.group {
		raw += len(s.rec)
	}
	blocks := len(l.group)/maxBlockRecords + raw/targetBlockRaw + 2
	bound := int64(2*raw + blocks*(blockHeaderSize+64))
	return st.off+bound+blockBound > l.opts.SegmentMaxBytes ||
		l.rc.now().Sub(time.Unix(0, st.activeHdr.created)) >= l.opts.SegmentMaxAge
}

// stopping commits what callers queued before Close and shuts down. Close
// has already turned new callers away, so the queue only shrinks. It runs
// under seqMu.
func (l *Log) stopping() {
	l.stopped = true
	for len(l.group) > 0 || l.queue.len() > 0 {
		if len(l.group) == 0 {
			l.drain()
		}
		l.commitGroup()
	}
	l.compactor.close() // under the directory lock, which run releases
	l.closeErr = l.shutdown()
}

// gather lets callers that are runnable reach Append before the group is
// cut: it yields the processor while each yield brings more records. On an
// idle proxy nothing else is runnable and Gosched returns at once; under
// load a group collects the records of one scheduling round instead of
// one, which saves a write, a block and a wake-up per record.
func (l *Log) gather() {
	for i := 0; i < maxGatherRounds; i++ {
		n := l.queue.len()
		runtime.Gosched()
		if l.queue.len() == n {
			return
		}
	}
}

func (l *Log) tick() time.Duration {
	t := min(l.opts.FsyncInterval, l.opts.CheckpointInterval) / 2
	return max(t, time.Millisecond)
}

// maxGatherRounds bounds the latency gather adds.
const maxGatherRounds = 4

func (l *Log) drain() {
	for len(l.group) < maxGroup {
		s := l.queue.pop()
		if s == nil {
			return
		}
		l.group = append(l.group, s)
	}
}

// periodic syncs and signs by time: fdatasync every FsyncInterval in
// process mode, a checkpoint every CheckpointInterval while records
// arrive. It runs on the log's goroutine, under seqMu.
func (l *Log) periodic() {
	l.checkSpace()
	if !l.healthy.Load() || l.st == nil {
		l.tryRecover() // rate-limited; lets readiness return without traffic
		return
	}
	now := l.rc.now()
	var err error
	if l.dirty && now.Sub(l.lastSync) >= l.opts.FsyncInterval {
		err = l.sync()
	}
	if err == nil && l.st.n > l.cpSize() && now.Sub(l.lastCPTime) >= l.opts.CheckpointInterval {
		err = l.checkpoint()
	}
	if err != nil {
		l.fail(err)
	}
}

func (l *Log) cpSize() uint64 {
	if !l.st.hasCP {
		return 0
	}
	return l.st.last.Size
}

// commitGroup writes the group, makes it as durable as the mode asks and
// releases its callers.
func (l *Log) commitGroup() {
	atomic.AddUint64(&l.stats.Groups, 1)
	if !l.healthy.Load() {
		if err := l.tryRecover(); err != nil {
			l.release(err)
			return
		}
	}
	err := l.writeGroup()
	if err == nil && l.opts.Durability == DurabilityDisk {
		err = l.sync()
	}
	if err != nil {
		err = l.recoverAndRetry(err)
		if err != nil {
			l.release(err)
			return
		}
	}
	l.release(nil)
}

// release hands every record of the group back to its caller.
func (l *Log) release(err error) {
	if err == nil {
		atomic.AddUint64(&l.stats.Appended, uint64(len(l.group)))
	}
	l.releaseSlots(l.group, err)
	l.group = l.group[:0]
}

// releaseSlots acknowledges each record of slots with err, or in async
// mode, where no caller waits for an acknowledgement, puts its slot back.
func (l *Log) releaseSlots(slots []*slot, err error) {
	async := l.opts.Durability == DurabilityAsync
	for _, s := range slots {
		if async {
			l.putSlot(s)
			continue
		}
		l.ack(s, err)
	}
}

// writeGroup sequences the group's records into blocks and writes them
// with one pwrite.
func (l *Log) writeGroup() error {
	st := l.st
	l.out = l.out[:0]
	l.groupFirst = st.n
	for _, s := range l.group {
		if l.blkCount == 0 {
			if err := l.maybeRotate(); err != nil {
				return err
			}
			l.blkFirst, l.blkMin, l.blkMax = st.n, s.start, s.start
		}
		s.idx = st.n
		l.raw = append(l.raw, s.rec...)
		l.blkCount++
		l.blkMin, l.blkMax = min(l.blkMin, s.start), max(l.blkMax, s.start)
		st.n++
		if err := st.rng.appendLeaf(s.leafHash); err != nil {
			return err
		}
		if st.n%maxBlockRecords == 0 || len(l.raw) >= targetBlockRaw {
			l.cutBlock()
		}
	}
	if l.blkCount > 0 {
		l.cutBlock()
	}
	if err := l.writeOut(); err != nil {
		return err
	}
	return st.tiles.flush()
}

func (l *Log) cutBlock() {
	l.out = l.codec.appendBlock(l.out, l.raw, l.blkFirst, l.blkCount, l.blkMin, l.blkMax)
	l.raw = l.raw[:0]
	l.blkCount = 0
	atomic.AddUint64(&l.stats.Blocks, 1)
}

func (l *Log) writeOut() error {
	if len(l.out) == 0 {
		return nil
	}
	st := l.st
	if _, err := st.active.WriteAt(l.out, st.off); err != nil {
		return fmt.Errorf("cannot write segment: %w", err)
	}
	st.off += int64(len(l.out))
	l.out = l.out[:0]
	l.dirty = true
	return nil
}

// blockBound bounds the framed size of one block.
const blockBound = blockHeaderSize + 2*(targetBlockRaw+2*MaxRecordSize)

// maybeRotate seals the active segment when the next block might not fit
// or the segment is too old, and starts a new one at the next index.
func (l *Log) maybeRotate() error {
	st := l.st
	hasData := st.off+int64(len(l.out)) > segHeaderSize
	full := st.off+int64(len(l.out))+blockBound > l.opts.SegmentMaxBytes
	old := l.rc.now().Sub(time.Unix(0, st.activeHdr.created)) >= l.opts.SegmentMaxAge
	if !hasData || (!full && !old) {
		return nil
	}
	if err := l.writeOut(); err != nil {
		return err
	}
	// Seal: cut the preallocated tail, sync, then create the next segment.
	if err := st.active.Truncate(st.off); err != nil {
		return fmt.Errorf("cannot seal segment: %w", err)
	}
	if err := st.active.Datasync(); err != nil {
		return fmt.Errorf("cannot seal segment: %w", err)
	}
	f, hdr, err := createSegment(&l.rc, st.n)
	if err != nil {
		return err
	}
	if !l.opts.noCompaction {
		l.compactor.add(st.segs[len(st.segs)-1].path)
	}
	st.active.Close()
	st.active, st.activeHdr, st.off = f, hdr, segHeaderSize
	st.segs = append(st.segs, segInfo{path: f.Name(), first: st.n, created: hdr.created})
	l.dirty = false
	l.lastSync = l.rc.now()
	return nil
}

func (l *Log) sync() error {
	if !l.dirty {
		return nil
	}
	if err := l.st.active.Datasync(); err != nil {
		return fmt.Errorf("cannot sync segment: %w", err)
	}
	l.dirty = false
	l.lastSync = l.rc.now()
	atomic.AddUint64(&l.stats.Syncs, 1)
	return nil
}

// checkpoint makes the records and tree hashes durable, then signs and
// stores a checkpoint for the current size.
func (l *Log) checkpoint() error {
	st := l.st
	if err := l.sync(); err != nil {
		return err
	}
	if err := st.tiles.sync(); err != nil {
		return err
	}
	if st.hasCP && st.n <= st.last.Size {
		return nil
	}
	root := st.rng.root()
	msg, err := signCheckpoint(l.signer, l.signer.Name(), st.n, root)
	if err != nil {
		return err
	}
	frame := appendCheckpointFrame(nil, msg)
	if _, err := st.cpLog.WriteAt(frame, st.cpOff); err != nil {
		return fmt.Errorf("cannot write checkpoint log: %w", err)
	}
	if err := st.cpLog.Datasync(); err != nil {
		return fmt.Errorf("cannot sync checkpoint log: %w", err)
	}
	st.cpOff += int64(len(frame))
	st.last = Checkpoint{Origin: l.signer.Name(), Size: st.n, Root: root, Note: msg}
	st.hasCP = true
	if err := writeFileAtomic(filepath.Join(l.opts.Dir, checkpointFile), msg, 0o644); err != nil {
		return err
	}
	l.lastCPTime = l.rc.now()
	atomic.AddUint64(&l.stats.Checkpoints, 1)
	if l.sink != nil {
		l.sink.push(msg)
	}
	l.retain()
	return nil
}

// fail marks the log broken after an I/O error. The file descriptors are
// dropped without another fsync: after a failed fsync the kernel may have
// discarded the dirty pages, so a retried fsync could lie.
func (l *Log) fail(err error) {
	atomic.AddUint64(&l.stats.Failures, 1)
	l.healthy.Store(false)
	l.logger.Error("audit log write failed; failing closed", "err", err)
	if l.st != nil {
		l.st.close()
		l.st = nil
	}
	l.raw, l.blkCount, l.out = l.raw[:0], 0, l.out[:0]
	l.dirty = false
	l.lastFailure = l.rc.now()
}

// recoverAndRetry handles a failed group: fail, recover from disk, and
// append again the group's records that did not survive.
func (l *Log) recoverAndRetry(cause error) error {
	first := l.groupFirst
	l.fail(cause)
	l.lastFailure = time.Time{} // recover at once, not rate-limited
	if err := l.tryRecover(); err != nil {
		return err
	}
	n := l.st.n
	if n < first {
		l.logger.Error("audit log lost acknowledged records that were not yet synced", "from", n, "to", first)
	}
	keep := 0
	if n > first {
		keep = int(min(n-first, uint64(len(l.group))))
	}
	// The first keep records are on disk; release them and append the rest.
	done := l.group[:keep]
	rest := l.group[keep:]
	atomic.AddUint64(&l.stats.Appended, uint64(keep))
	l.releaseSlots(done, nil)
	l.group = append(l.group[:0], rest...)
	if len(l.group) == 0 {
		return nil
	}
	err := l.writeGroup()
	if err == nil && l.opts.Durability == DurabilityDisk {
		err = l.sync()
	}
	if err != nil {
		l.fail(err)
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// tryRecover reopens the log through recovery, at most once a second.
func (l *Log) tryRecover() error {
	now := l.rc.now()
	if !l.lastFailure.IsZero() && now.Sub(l.lastFailure) < time.Second {
		return ErrUnavailable
	}
	l.lastFailure = now
	st, err := recoverLog(&l.rc)
	if err != nil {
		l.logger.Error("audit log recovery failed", "err", err)
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	l.st = st
	l.lastSync = now
	if err := l.checkpoint(); err != nil {
		l.fail(err)
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	atomic.AddUint64(&l.stats.Recoveries, 1)
	l.healthy.Store(true)
	l.logger.Info("audit log recovered", "records", st.n)
	return nil
}

func (l *Log) shutdown() error {
	if l.st == nil {
		l.codec.close()
		return ErrUnavailable
	}
	err := l.checkpoint()
	l.st.close()
	l.st = nil
	l.codec.close()
	if err != nil {
		return fmt.Errorf("cannot close audit log: %w", err)
	}
	return nil
}
