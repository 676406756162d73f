package auditlog

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/sys/unix"
)

// Durability says when Append returns.
type Durability uint8

const (
	// DurabilityProcess (the default) returns once the record's group has
	// been written to the file with write(2): kill -9 loses nothing that was
	// acknowledged; fdatasync runs every FsyncInterval, which bounds what a
	// power loss can take.
	DurabilityProcess Durability = iota
	// DurabilityDisk returns after the group's fdatasync.
	DurabilityDisk
	// DurabilityAsync returns as soon as the record is queued. It is unsafe
	// (a crash loses queued records) and meant for benchmarks only.
	DurabilityAsync
)

// String returns the mode's configuration name.
func (d Durability) String() string {
	switch d {
	case DurabilityProcess:
		return "process"
	case DurabilityDisk:
		return "disk"
	case DurabilityAsync:
		return "async"
	}
	return "durability(" + fmt.Sprint(uint8(d)) + ")"
}

// ParseDurability parses "process", "disk" or "async".
func ParseDurability(s string) (Durability, error) {
	switch s {
	case "", "process":
		return DurabilityProcess, nil
	case "disk":
		return DurabilityDisk, nil
	case "async":
		return DurabilityAsync, nil
	}
	return 0, fmt.Errorf("cannot parse durability %q: want process, disk or async", s)
}

// Defaults for Options fields left zero.
const (
	DefaultFsyncInterval      = 100 * time.Millisecond
	DefaultCheckpointEvery    = 65536
	DefaultCheckpointInterval = time.Second
	DefaultSegmentMaxBytes    = 128 << 20
	DefaultSegmentMaxAge      = 24 * time.Hour
	DefaultQueueSize          = 16384
	DefaultSaltPeriod         = 24 * time.Hour
	minSegmentBytes           = 1 << 20
	maxGroup                  = 4096
)

// Options configure a Log.
type Options struct {
	// Dir is the log directory.
	Dir string
	// SigningKey is the checkpoint signing key in signed-note form
	// (PRIVATE+KEY+<origin>+…), as made by GenerateKey. Either it or Signer
	// is required.
	SigningKey string
	// Signer signs checkpoints when the key lives elsewhere (KMS, HSM).
	// Verifier, if set, checks checkpoints found at Open.
	Signer   note.Signer
	Verifier note.Verifier
	// Durability says when Append returns; see Durability.
	Durability Durability
	// Compression is the codec of new blocks; see Compression.
	Compression Compression
	// FsyncInterval bounds unsynced data in process mode.
	FsyncInterval time.Duration
	// CheckpointEvery signs a checkpoint after this many new records.
	CheckpointEvery int
	// CheckpointInterval signs a checkpoint at least this often while
	// records arrive.
	CheckpointInterval time.Duration
	// SegmentMaxBytes is the preallocated segment size; a segment is sealed
	// when the next block would not fit.
	SegmentMaxBytes int64
	// SegmentMaxAge seals a segment this long after it was created.
	SegmentMaxAge time.Duration
	// QueueSize bounds records queued and not yet committed; Append fails with
	// ErrQueueFull beyond it.
	QueueSize int
	// SaltPeriod is how long one salt (the erasure unit of personal
	// values) is used.
	SaltPeriod time.Duration
	// MinFreeBytes, if positive, fails the log closed (Healthy false,
	// Append returns ErrUnavailable) while the file system holding Dir has
	// less free space than this, keeping room for recovery and checkpoints
	// instead of running into ENOSPC.
	MinFreeBytes int64
	// RetainSegments, if positive, keeps at most this many segments (the
	// active one included): after a checkpoint, the oldest sealed segments
	// beyond it are deleted. See Prune for what stays provable.
	RetainSegments int
	// RetainAge, if positive, deletes sealed segments sealed longer ago
	// than this. Either limit deletes a segment; zero keeps everything.
	RetainAge time.Duration
	// Logger receives recovery and failure reports; nil discards them.
	Logger *slog.Logger
	// SinkURL, if set, receives every checkpoint as an HTTP POST body.
	SinkURL string
	// SinkCommand, if set, is run for every checkpoint with the signed note
	// on its standard input.
	SinkCommand []string

	repair       bool
	noCompaction bool // tests: leave sealed segments as written
	freeSpace    func(dir string) (int64, error)
	openFile     openFileFunc
	now          func() time.Time
}

// Errors returned by Append.
var (
	// ErrQueueFull means the commits are behind; the caller fails closed.
	ErrQueueFull = errors.New("auditlog: queue full")
	// ErrClosed means the log was closed.
	ErrClosed = errors.New("auditlog: closed")
	// ErrUnavailable means the log cannot be written (I/O error, disk
	// full) and recovery has not succeeded yet.
	ErrUnavailable = errors.New("auditlog: unavailable")
)

// NoIndex is the index Append returns in async mode, where the index is
// assigned after Append returns.
const NoIndex = ^uint64(0)

// Log is the writer of an audit log. Append is safe for concurrent use.
type Log struct {
	opts   Options
	rc     recoverConfig
	signer note.Signer
	salts  *saltStore
	keys   atomic.Pointer[saltKeys]
	logger *slog.Logger

	free  slotPool
	queue *ring
	stop  chan struct{}
	done  chan struct{}
	wake  chan struct{} // capacity 1: asks run to commit (commit.go)

	compactor *compactor
	// segMu orders retention's deletions against the compactor's renames.
	segMu sync.Mutex
	// hold, when set, reports the first index retention must keep
	// (HoldRetention).
	hold atomic.Pointer[func() uint64]

	closeMu  sync.RWMutex
	closed   bool
	healthy  atomic.Bool
	lowSpace atomic.Bool
	sink     *sink

	// seqMu guards the state below: its holder commits the queue
	// (commit.go).
	seqMu       sync.Mutex
	stopped     bool // Close committed the queue; no one commits again
	st          *recovered
	codec       *blockCodec
	group       []*slot
	out         []byte
	raw         []byte
	blkFirst    uint64
	blkCount    int
	blkMin      int64
	blkMax      int64
	dirty       bool // written but not synced
	lastSync    time.Time
	lastCPTime  time.Time
	lastFailure time.Time
	closeErr    error
	groupFirst  uint64

	stats Stats
}

// Stats are counters for metrics. Read them with Log.Stats.
type Stats struct {
	Appended, Groups, Blocks, Syncs, Checkpoints, Failures, Recoveries, QueueFull uint64
	SinkFailures, SinkDropped                                                     uint64
	// Pruned counts segments deleted by retention.
	Pruned uint64
	// RetentionHeld is how many segments retention would delete at the
	// last checkpoint but keeps for HoldRetention (a level, not a count).
	RetentionHeld uint64
	// Compactions counts sealed segments rewritten in full zstd blocks;
	// CompactionFailures those left as written after an error.
	Compactions, CompactionFailures uint64
}

// Open opens (creating if needed) the log in opts.Dir, running recovery:
// a torn tail past the last checkpoint is truncated and logged; damage in
// checkpointed or sealed data returns an error wrapping ErrNeedsRepair.
func Open(opts Options) (*Log, error) {
	if opts.Dir == "" {
		return nil, errors.New("cannot open audit log: no directory")
	}
	l := &Log{opts: opts}
	if err := l.setDefaults(); err != nil {
		return nil, err
	}
	lock, err := lockDir(l.opts.Dir)
	if err != nil {
		return nil, err
	}
	removeStaleCompactions(l.opts.Dir)
	st, err := recoverLog(&l.rc)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("cannot open audit log: %w", err)
	}
	l.st = st
	if l.codec, err = newBlockCodec(); err != nil {
		st.close()
		lock.Close()
		return nil, err
	}
	l.codec.use(l.opts.Compression)
	l.raw = make([]byte, 0, targetBlockRaw+2*MaxRecordSize)
	l.out = make([]byte, 0, 256<<10)
	l.group = make([]*slot, 0, maxGroup)
	l.queue = newRing(l.opts.QueueSize)
	l.free.max = int64(l.opts.QueueSize)
	if l.opts.Durability == DurabilityAsync {
		// Callers do not wait, so they fill the queue: make it all now.
		for range l.opts.QueueSize {
			l.free.pool.Put(newSlot())
		}
	}
	now := l.rc.now()
	l.lastSync, l.lastCPTime = now, now
	if l.opts.SinkURL != "" || len(l.opts.SinkCommand) > 0 {
		l.sink = newSink(l.opts.SinkURL, l.opts.SinkCommand, l.logger, &l.stats)
	}
	// Cover whatever recovery found past the last checkpoint.
	if !st.hasCP || st.n > st.last.Size {
		if err := l.checkpoint(); err != nil {
			l.codec.close()
			st.close()
			lock.Close()
			return nil, fmt.Errorf("cannot open audit log: %w", err)
		}
	}
	if l.compactor, err = newCompactor(l); err != nil {
		l.codec.close()
		st.close()
		lock.Close()
		return nil, err
	}
	if n := len(st.segs); n >= 2 && !l.opts.noCompaction {
		// A crash between sealing and compaction leaves the last sealed
		// segment as written; older ones were compacted before it was sealed.
		if need, err := needsCompaction(st.segs[n-2].path); err == nil && need {
			l.compactor.add(st.segs[n-2].path)
		}
	}
	l.healthy.Store(true)
	l.checkSpace()
	l.stop = make(chan struct{})
	l.done = make(chan struct{})
	l.wake = make(chan struct{}, 1)
	go l.run(lock)
	return l, nil
}

func (l *Log) setDefaults() error {
	o := &l.opts
	if o.Signer == nil {
		if o.SigningKey == "" {
			return errors.New("cannot open audit log: no signing key")
		}
		s, err := note.NewSigner(o.SigningKey)
		if err != nil {
			return fmt.Errorf("cannot open audit log: cannot parse signing key: %w", err)
		}
		vkey, err := VerifierKey(o.SigningKey)
		if err != nil {
			return fmt.Errorf("cannot open audit log: %w", err)
		}
		v, err := note.NewVerifier(vkey)
		if err != nil {
			return fmt.Errorf("cannot open audit log: %w", err)
		}
		o.Signer, o.Verifier = s, v
	}
	l.signer = o.Signer
	if o.FsyncInterval <= 0 {
		o.FsyncInterval = DefaultFsyncInterval
	}
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = DefaultCheckpointEvery
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = DefaultCheckpointInterval
	}
	if o.SegmentMaxBytes <= 0 {
		o.SegmentMaxBytes = DefaultSegmentMaxBytes
	}
	o.SegmentMaxBytes = max(o.SegmentMaxBytes, minSegmentBytes)
	if o.SegmentMaxAge <= 0 {
		o.SegmentMaxAge = DefaultSegmentMaxAge
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.SaltPeriod <= 0 {
		o.SaltPeriod = DefaultSaltPeriod
	}
	if o.SaltPeriod < time.Second {
		o.SaltPeriod = time.Second
	}
	l.logger = o.Logger
	if l.logger == nil {
		l.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.openFile == nil {
		o.openFile = openOSFile
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.freeSpace == nil {
		o.freeSpace = statfsFree
	}
	l.salts = newSaltStore(o.Dir, int64(o.SaltPeriod), true)
	l.rc = recoverConfig{
		dir: o.Dir, origin: o.Signer.Name(), verifier: o.Verifier, open: o.openFile,
		logger: l.logger, segMax: o.SegmentMaxBytes, repair: o.repair, now: o.now,
	}
	return nil
}

// lockDir takes an exclusive flock on dir/LOCK: one writer per log.
func lockDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("cannot create log directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot lock log directory: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot lock log directory %q (another writer?): %w", dir, err)
	}
	return f, nil
}

// Healthy reports whether the log is accepting and persisting records. It
// turns false after a write failure and true again after recovery.
func (l *Log) Healthy() bool { return l.healthy.Load() && !l.lowSpace.Load() }

// errLowSpace is returned while free space is below MinFreeBytes.
var errLowSpace = fmt.Errorf("%w: free disk space below the high-water mark", ErrUnavailable)

// checkSpace updates lowSpace from the file system's free space.
func (l *Log) checkSpace() {
	if l.opts.MinFreeBytes <= 0 {
		return
	}
	free, err := l.opts.freeSpace(l.opts.Dir)
	if err != nil {
		return
	}
	low := free < l.opts.MinFreeBytes
	if low != l.lowSpace.Swap(low) {
		if low {
			l.logger.Error("audit log: free disk space below the high-water mark; failing closed", "free", free, "min", l.opts.MinFreeBytes)
		} else {
			l.logger.Info("audit log: free disk space recovered", "free", free)
		}
	}
}

func statfsFree(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// Stats returns a snapshot of the log's counters.
func (l *Log) Stats() Stats {
	return Stats{
		Appended: atomic.LoadUint64(&l.stats.Appended), Groups: atomic.LoadUint64(&l.stats.Groups),
		Blocks: atomic.LoadUint64(&l.stats.Blocks), Syncs: atomic.LoadUint64(&l.stats.Syncs),
		Checkpoints: atomic.LoadUint64(&l.stats.Checkpoints), Failures: atomic.LoadUint64(&l.stats.Failures),
		Recoveries: atomic.LoadUint64(&l.stats.Recoveries), QueueFull: atomic.LoadUint64(&l.stats.QueueFull),
		SinkFailures: atomic.LoadUint64(&l.stats.SinkFailures), SinkDropped: atomic.LoadUint64(&l.stats.SinkDropped),
		Pruned: atomic.LoadUint64(&l.stats.Pruned), RetentionHeld: atomic.LoadUint64(&l.stats.RetentionHeld),
		Compactions: atomic.LoadUint64(&l.stats.Compactions), CompactionFailures: atomic.LoadUint64(&l.stats.CompactionFailures),
	}
}

// Append logs e and returns its index. In process and disk modes it blocks
// until the record is written (and, in disk mode, synced); in async mode it
// returns NoIndex once the record is queued. It never keeps e. A full queue
// returns ErrQueueFull at once; a broken log returns an error wrapping
// ErrUnavailable. It does not allocate in steady state. The caller may
// commit other callers' records with its own (commit.go).
func (l *Log) Append(e *Entry) (uint64, error) {
	s, err := l.enqueue(e, nil)
	if err != nil {
		return NoIndex, err
	}
	l.commit(false)
	if l.opts.Durability == DurabilityAsync {
		return NoIndex, nil // s may already be another caller's
	}
	<-s.done
	idx, err := s.idx, s.err
	l.putSlot(s)
	return idx, err
}

// AppendFunc is Append for callers that must not wait for the record.
// It queues e, commits what is queued unless someone else is committing
// it, and returns; done is called once, when the record is as durable as
// the mode asks (or failed), with what Append would have returned. done
// runs on whichever goroutine commits the record, possibly the caller's
// before AppendFunc returns; it must be quick and must not call the Log.
// In async mode done runs before AppendFunc returns. An error returned by
// AppendFunc itself (queue full, closed, unavailable) means done is never
// called.
func (l *Log) AppendFunc(e *Entry, done func(idx uint64, err error)) error {
	if err := l.QueueFunc(e, done); err != nil {
		return err
	}
	l.commit(false)
	return nil
}

// QueueFunc is AppendFunc without the commit, for an event loop: it
// queues e and returns, and the caller calls Commit once it has queued
// what its turn brings, so that one group holds them all. Until some
// caller commits, the log's goroutine does so at its next tick, within
// min(FsyncInterval, CheckpointInterval)/2.
func (l *Log) QueueFunc(e *Entry, done func(idx uint64, err error)) error {
	async := l.opts.Durability == DurabilityAsync
	notify := done
	if async {
		notify = nil
	}
	if _, err := l.enqueue(e, notify); err != nil {
		return err
	}
	if async {
		done(NoIndex, nil)
	}
	return nil
}

// Commit writes what is queued, on the caller's goroutine, unless someone
// else is writing it (then that caller does). It is meant for an event
// loop and never blocks on a sync, a rotation, a checkpoint or recovery:
// those go to the log's goroutine, which then commits instead. The
// callbacks of the records committed run before Commit returns.
func (l *Log) Commit() { l.commit(true) }

// enqueue encodes e into a free slot and queues it. In async mode the slot
// must not be touched afterwards.
func (l *Log) enqueue(e *Entry, notify func(uint64, error)) (*slot, error) {
	if l.lowSpace.Load() {
		return nil, errLowSpace
	}
	k := l.keys.Load()
	epoch := l.salts.epochOf(e.Start)
	if k == nil || k.epoch != epoch {
		// Slow path: a new salt period.
		var err error
		if k, err = l.salts.get(epoch); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		l.keys.Store(k)
	}
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	s := l.free.get()
	if s == nil {
		atomic.AddUint64(&l.stats.QueueFull, 1)
		return nil, ErrQueueFull
	}
	s.encode(e, k)
	s.notify = notify
	l.queue.push(s) // never overflows: it has a cell for every slot
	return s, nil
}

// ack hands a processed record back: to its waiting Append, or to its
// AppendFunc callback (after the slot is free again).
func (l *Log) ack(s *slot, err error) {
	if fn := s.notify; fn != nil {
		idx := s.idx
		s.notify = nil
		l.putSlot(s)
		fn(idx, err)
		return
	}
	s.err = err
	s.done <- struct{}{}
}

// putSlot returns a slot whose record has been handled.
func (l *Log) putSlot(s *slot) { l.free.put(s) }

// Close flushes queued records, syncs, signs a final checkpoint and
// releases the directory.
func (l *Log) Close() error {
	l.closeMu.Lock()
	if l.closed {
		l.closeMu.Unlock()
		return ErrClosed
	}
	l.closed = true
	l.closeMu.Unlock()
	close(l.stop)
	<-l.done
	if l.sink != nil {
		l.sink.close()
	}
	return l.closeErr
}

// LastCheckpoint returns the most recent signed checkpoint note. It is safe
// for concurrent use.
func (l *Log) LastCheckpoint() ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(l.opts.Dir, checkpointFile))
	if err != nil {
		return nil, fmt.Errorf("cannot read checkpoint: %w", err)
	}
	return b, nil
}
