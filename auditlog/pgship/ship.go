package pgship

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/jackc/pgx/v5"

	"github.com/tollgate-proxy/tollgate/auditlog"
)

// CopyName names the shipper's mark in the log directory
// (auditlog.MarkCopied): offline pruning keeps what the database lacks.
const CopyName = "pgship"

// Defaults of Options.
const (
	DefaultBatchRecords = 2048
	DefaultInterval     = 200 * time.Millisecond
	maxBackoff          = 5 * time.Second
	connectTimeout      = 5 * time.Second
	batchTimeout        = 30 * time.Second
)

// Options configure a Shipper.
type Options struct {
	// URL is the PostgreSQL connection URL (pgx syntax).
	URL string
	// Dir is the audit log directory to tail.
	Dir string
	// Origin is the log's origin, the name of its checkpoint key: the
	// records' key in the database beside their index.
	Origin string
	// BatchRecords caps the records sent in one transaction, and so the
	// shipper's memory; DefaultBatchRecords when zero.
	BatchRecords int
	// Interval is how often the shipper looks for new records (and
	// measures the lag); DefaultInterval when zero.
	Interval time.Duration
	// MaxLag, when not zero, makes Behind report true while more than
	// this many records wait to be shipped (fail-closed shipping).
	MaxLag uint64
	// Metrics receives the shipper's series; nil registers none.
	Metrics *metrics.Set
	// Logger receives connection failures and recoveries; nil discards.
	Logger *slog.Logger
}

// Shipper copies one audit log to PostgreSQL in the background. Its
// methods are safe for concurrent use.
type Shipper struct {
	opts   Options
	log    *slog.Logger
	stop   chan struct{}
	done   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
	// started says Start ran, so Close waits for the goroutine.
	started atomic.Bool

	shippedNext atomic.Uint64 // first index the database does not hold
	localSize   atomic.Uint64
	lag         atomic.Uint64
	connected   atomic.Bool
	maxLag      atomic.Uint64 // Options.MaxLag, as last reconfigured

	// urlMu guards url, the connection URL: Options.URL until
	// Reconfigure changes it, which also wakes run through reconf.
	urlMu  sync.Mutex
	url    string
	reconf chan struct{}

	records, checkpoints, failures, lost *metrics.Counter

	// Owned by the run goroutine.
	conn    *pgx.Conn
	fol     *auditlog.Follower
	cpOff   int64
	cpSize  int64 // largest checkpoint size the database holds, -1 for none
	batch   copyBatch
	batchR  bytes.Reader
	cps     []auditlog.Checkpoint
	cpSizes []int64 // the columns of cps, reused from batch to batch
	cpRoots [][]byte
	cpNotes []string
	down    bool   // the last attempt failed: log the recovery
	skipped uint64 // records the follower skipped, as last counted
	lastErr string
	// marked is the position last recorded in the log directory, at
	// markedAt; markErr says the last attempt failed (logged once). known
	// says the database was asked where its copy ends: until then there
	// is nothing to record.
	known    bool
	marked   uint64
	markedAt time.Time
	markErr  bool
}

// New checks opts and builds a Shipper; Start starts it.
func New(opts Options) (*Shipper, error) {
	var errs []error
	if opts.URL == "" {
		errs = append(errs, errors.New("pgship: a PostgreSQL URL is required"))
	} else if _, err := pgx.ParseConfig(opts.URL); err != nil {
		errs = append(errs, fmt.Errorf("pgship: cannot parse PostgreSQL URL: %w", err))
	}
	if opts.Dir == "" {
		errs = append(errs, errors.New("pgship: the audit log directory is required"))
	}
	if opts.Origin == "" {
		errs = append(errs, errors.New("pgship: the log origin is required"))
	}
	if opts.BatchRecords < 0 || opts.Interval < 0 {
		errs = append(errs, errors.New("pgship: batch size and interval must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.BatchRecords == 0 {
		opts.BatchRecords = DefaultBatchRecords
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	s := &Shipper{opts: opts, log: opts.Logger, stop: make(chan struct{}), done: make(chan struct{}), cpSize: -1,
		url: opts.URL, reconf: make(chan struct{}, 1)}
	s.maxLag.Store(opts.MaxLag)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	set := opts.Metrics
	if set == nil {
		set = metrics.NewSet()
	}
	s.records = set.NewCounter(`tollgate_audit_ship_records_total`)
	s.checkpoints = set.NewCounter(`tollgate_audit_ship_checkpoints_total`)
	s.failures = set.NewCounter(`tollgate_audit_ship_failures_total`)
	s.lost = set.NewCounter(`tollgate_audit_ship_lost_records_total`)
	_ = set.NewGauge(`tollgate_audit_ship_lag_records`, func() float64 { return float64(s.lag.Load()) })
	_ = set.NewGauge(`tollgate_audit_ship_connected`, func() float64 {
		if s.connected.Load() {
			return 1
		}
		return 0
	})
	return s, nil
}

// Start starts shipping in a goroutine the Shipper owns; Close stops it.
func (s *Shipper) Start() {
	s.started.Store(true)
	go s.run()
}

// Close stops the shipper, after one last attempt to ship what the log
// holds (bounded by a few seconds), and waits for its goroutine.
func (s *Shipper) Close() error {
	s.once.Do(func() {
		close(s.stop)
		if !s.started.Load() {
			s.cleanup()
			close(s.done)
		}
	})
	<-s.done
	return nil
}

// Lag returns the number of records the local log holds that the
// database does not, as last measured.
func (s *Shipper) Lag() uint64 { return s.lag.Load() }

// Shipped returns the first index the database does not hold yet, as
// far as the shipper knows.
func (s *Shipper) Shipped() uint64 { return s.shippedNext.Load() }

// Behind reports whether fail-closed shipping is on and the lag exceeds
// MaxLag. It is cheap: two atomic loads.
func (s *Shipper) Behind() bool {
	m := s.maxLag.Load()
	return m > 0 && s.lag.Load() > m
}

// Reconfigure applies new settings to a running shipper, as a config
// reload does: maxLag at once, and a new URL from the next connection,
// which is made at once. The copy resumes from what the new database
// holds (all of the log, for an empty one), so moving to another
// database loses nothing and duplicates nothing. A URL that does not
// parse changes nothing.
func (s *Shipper) Reconfigure(url string, maxLag uint64) error {
	if _, err := pgx.ParseConfig(url); err != nil {
		return fmt.Errorf("pgship: cannot parse PostgreSQL URL: %w", err)
	}
	s.urlMu.Lock()
	changed := s.url != url
	s.url = url
	s.urlMu.Unlock()
	s.maxLag.Store(maxLag)
	if changed {
		select {
		case s.reconf <- struct{}{}:
		default: // a reconnection is already asked for
		}
	}
	return nil
}

func (s *Shipper) currentURL() string {
	s.urlMu.Lock()
	defer s.urlMu.Unlock()
	return s.url
}

func (s *Shipper) run() {
	defer close(s.done)
	defer s.cleanup()
	var retryAt time.Time
	backoff := time.Duration(0)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			s.final()
			return
		case <-s.reconf:
			// A new URL: leave the old database, try the new one now.
			s.dropConn()
			retryAt, backoff = time.Time{}, 0
		case <-t.C:
		}
		s.measure()
		if now := time.Now(); now.After(retryAt) {
			if err := s.ship(false); err != nil {
				s.fail(err)
				backoff = min(max(2*backoff, 100*time.Millisecond), maxBackoff)
				retryAt = time.Now().Add(backoff)
			} else {
				backoff = 0
			}
		}
		s.mark(false)
		t.Reset(s.opts.Interval)
	}
}

// final makes one bounded last attempt at shutdown, so a clean stop
// leaves the database complete when it is reachable.
func (s *Shipper) final() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
			s.cancel()
		case <-s.ctx.Done():
		}
	}()
	s.measure()
	if err := s.ship(true); err != nil {
		s.fail(err)
	}
	s.measure()
	s.mark(true)
}

// mark records in the log directory the first index the database lacks
// (auditlog.MarkCopied), when it moved: at most once a second, so the
// copy's progress costs the disk a rename a second at most, and at
// shutdown. Offline pruning then keeps what the database lacks, as the
// running log's retention does through Shipped.
func (s *Shipper) mark(now bool) {
	next := s.shippedNext.Load()
	if !s.known || !s.markedAt.IsZero() && next == s.marked || !now && time.Since(s.markedAt) < time.Second {
		return
	}
	if err := auditlog.MarkCopied(s.opts.Dir, CopyName, next); err != nil {
		if !s.markErr {
			s.log.Error("cannot record how far audit shipping got; offline pruning may delete records the database lacks", "err", err)
		}
		s.markErr = true
		return
	}
	s.marked, s.markedAt, s.markErr = next, time.Now(), false
}

// Forget removes the shipper's mark from the log directory, once shipping
// is turned off for good: offline pruning no longer waits for a database
// nothing ships to. Call it after Close.
func (s *Shipper) Forget() error { return auditlog.ForgetCopy(s.opts.Dir, CopyName) }

func (s *Shipper) cleanup() {
	s.cancel()
	s.dropConn()
	if s.fol != nil {
		_ = s.fol.Close()
	}
}

func (s *Shipper) fail(err error) {
	s.failures.Inc()
	s.dropConn()
	msg := err.Error()
	if !s.down || msg != s.lastErr {
		// Logged once per outage (and kind of failure), not every retry.
		s.log.Error("audit shipping to PostgreSQL failed; records wait in the local log", "err", err, "lag", s.lag.Load())
	}
	s.down, s.lastErr = true, msg
}

func (s *Shipper) dropConn() {
	if s.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = s.conn.Close(ctx)
		cancel()
		s.conn = nil
	}
	s.connected.Store(false)
}

// measure refreshes the local size and the lag.
func (s *Shipper) measure() {
	if s.fol == nil {
		f, err := auditlog.Follow(s.opts.Dir, s.shippedNext.Load())
		if err != nil {
			return
		}
		s.fol = f
	}
	size, err := s.fol.Size()
	if err != nil {
		return
	}
	s.localSize.Store(size)
	shipped := s.shippedNext.Load()
	if size > shipped {
		s.lag.Store(size - shipped)
	} else {
		s.lag.Store(0)
	}
}

// connect opens a connection, makes the tables and learns where the
// database's copy of this origin ends.
func (s *Shipper) connect() error {
	ctx, cancel := context.WithTimeout(s.ctx, connectTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.currentURL())
	if err != nil {
		return fmt.Errorf("cannot connect to PostgreSQL: %w", err)
	}
	if err := makeSchema(ctx, conn); err != nil {
		_ = conn.Close(ctx)
		return err
	}
	if _, err := conn.Exec(ctx, stageSQL); err != nil {
		_ = conn.Close(ctx)
		return fmt.Errorf("cannot create staging table: %w", err)
	}
	var next, cpSize int64
	err = conn.QueryRow(ctx, `SELECT coalesce(max(idx)+1, 0) FROM `+RecordsTable+` WHERE origin = $1`, s.opts.Origin).Scan(&next)
	if err == nil {
		err = conn.QueryRow(ctx, `SELECT coalesce(max(size), -1) FROM `+CheckpointsTable+` WHERE origin = $1`, s.opts.Origin).Scan(&cpSize)
	}
	if err != nil {
		_ = conn.Close(ctx)
		return fmt.Errorf("cannot read where the shipped log ends: %w", err)
	}
	s.conn = conn
	s.connected.Store(true)
	s.shippedNext.Store(uint64(next))
	s.known = true
	if s.fol == nil {
		if s.fol, err = auditlog.Follow(s.opts.Dir, uint64(next)); err != nil {
			return err
		}
	}
	// Resume from what the database holds, whatever was read before.
	s.fol.Seek(uint64(next))
	if size := s.localSize.Load(); uint64(next) > size && size > 0 {
		// A log started again under the same key: its indices are taken
		// in the database, and ON CONFLICT would drop its records.
		s.log.Error("the database holds more audit records of this origin than the local log; give a new log its own key (origin)",
			"origin", s.opts.Origin, "database", next, "local", size)
	}
	if cpSize < s.cpSize {
		s.cpOff = 0 // the database lost checkpoints: read the log's again
	}
	s.cpSize = cpSize
	if s.down {
		s.log.Info("audit shipping to PostgreSQL resumed", "origin", s.opts.Origin, "from", next)
		s.down = false
	}
	return nil
}

// ship sends batches until the database holds what the log held when
// measured or, unless toEnd, the shipper is stopped.
func (s *Shipper) ship(toEnd bool) error {
	if s.conn == nil {
		if err := s.connect(); err != nil {
			return err
		}
	}
	for {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		s.batch.reset()
		n, err := s.fol.Read(s.opts.BatchRecords, s.addRecord)
		if err != nil {
			return fmt.Errorf("cannot read the audit log: %w", err)
		}
		// The follower's position, not shipped+n: records retention
		// deleted before they could be read are skipped (and counted).
		end := s.fol.Next()
		if sk := s.fol.Skipped(); sk > s.skipped {
			s.lost.Add(int(sk - s.skipped))
			s.log.Error("audit records were deleted by retention before they were shipped; the database will have a gap", "records", sk-s.skipped, "resumed_at", end-uint64(n))
			s.skipped = sk
		}
		if err := s.collectCheckpoints(end); err != nil {
			return err
		}
		if n == 0 && len(s.cps) == 0 {
			return nil
		}
		if err := s.send(); err != nil {
			// The batch is read again from the log after reconnecting.
			return err
		}
		s.records.Add(n)
		s.checkpoints.Add(len(s.cps))
		if len(s.cps) > 0 {
			s.cpSize = int64(s.cps[len(s.cps)-1].Size)
		}
		s.shippedNext.Store(end)
		s.measureLag()
		if !toEnd {
			select {
			case <-s.stop:
				return nil // Close's final attempt goes on, bounded
			default:
			}
		}
	}
}

// addRecord encodes one record into the batch (leaf and rec are valid
// only during the call: the batch keeps copies of their bytes).
func (s *Shipper) addRecord(idx uint64, leaf []byte, rec *auditlog.Record) error {
	s.batch.add(s.opts.Origin, idx, leaf, rec)
	return nil
}

func (s *Shipper) measureLag() {
	size, shipped := s.localSize.Load(), s.shippedNext.Load()
	if size > shipped {
		s.lag.Store(size - shipped)
	} else {
		s.lag.Store(0)
	}
}

// collectCheckpoints gathers the signed checkpoints not yet in the
// database whose records will all be there once this batch is: up to
// end. A checkpoint of another origin (a reused directory) stops it.
func (s *Shipper) collectCheckpoints(end uint64) error {
	s.cps = s.cps[:0]
	var bad error
	off, err := auditlog.ReadCheckpoints(s.opts.Dir, s.cpOff, 256, func(cp auditlog.Checkpoint) bool {
		if cp.Origin != s.opts.Origin {
			bad = fmt.Errorf("checkpoint of origin %q in a log shipped as %q", cp.Origin, s.opts.Origin)
			return false
		}
		if cp.Size > end {
			return false
		}
		if int64(cp.Size) > s.cpSize && (len(s.cps) == 0 || cp.Size > s.cps[len(s.cps)-1].Size) {
			s.cps = append(s.cps, cp)
		}
		return true
	})
	if err != nil {
		return err
	}
	if bad != nil {
		return bad
	}
	s.cpOff = off
	return nil
}

// insertCheckpointsSQL inserts checkpoints given as arrays of their
// sizes, roots and notes.
const insertCheckpointsSQL = `INSERT INTO ` + CheckpointsTable + ` (origin, size, root, note)
	SELECT $1, * FROM unnest($2::bigint[], $3::bytea[], $4::text[]) ON CONFLICT (origin, size) DO NOTHING`

// send writes the batch in one transaction: COPY into the staging
// table, then INSERT … ON CONFLICT DO NOTHING, so a batch sent twice
// lands once.
func (s *Shipper) send() (err error) {
	ctx, cancel := context.WithTimeout(s.ctx, batchTimeout)
	defer cancel()
	tx, err := s.conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("cannot begin a shipping transaction: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(ctx)
		}
	}()
	if s.batch.rows > 0 {
		s.batchR.Reset(s.batch.data())
		if _, err := tx.Conn().PgConn().CopyFrom(ctx, &s.batchR, copySQL); err != nil {
			return fmt.Errorf("cannot copy audit records: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+RecordsTable+` SELECT * FROM `+stageTable+` ON CONFLICT (origin, idx) DO NOTHING`); err != nil {
			return fmt.Errorf("cannot insert audit records: %w", err)
		}
	}
	if len(s.cps) > 0 {
		// One statement for the batch's checkpoints (they all have the
		// shipper's origin): one round trip, not one per checkpoint.
		s.cpSizes, s.cpRoots, s.cpNotes = s.cpSizes[:0], s.cpRoots[:0], s.cpNotes[:0]
		for i := range s.cps {
			cp := &s.cps[i]
			s.cpSizes = append(s.cpSizes, int64(cp.Size))
			s.cpRoots = append(s.cpRoots, cp.Root[:])
			s.cpNotes = append(s.cpNotes, string(cp.Note))
		}
		if _, err := tx.Exec(ctx, insertCheckpointsSQL, s.opts.Origin, s.cpSizes, s.cpRoots, s.cpNotes); err != nil {
			return fmt.Errorf("cannot insert checkpoints: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("cannot commit shipped records: %w", err)
	}
	return nil
}
