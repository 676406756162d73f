package engine

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/filters"
)

// Observer receives every request's record, synchronously, after the
// response status is known. It must be cheap and never block; the entry is
// reused after it returns.
type Observer interface {
	Observe(e *auditlog.Entry)
}

// Recorder is the one event path per request: it turns a finished request
// into an audit log entry once and hands that same entry to the audit log
// (if configured) and to the observers (live statistics). It lives for the
// whole process: a reload reopens nothing.
type Recorder struct {
	log       *auditlog.Log // nil without an audit section
	observers []Observer
	failOpen  bool
	strict    bool
	entries   sync.Pool

	failures   *metrics.Counter // records that could not be written
	unrecorded *metrics.Counter // requests served without a record (fail-open)

	// behind, when set, refuses requests as an unwritable log does: a
	// copy of the log the operator made mandatory (fail-closed shipping)
	// has fallen too far behind. Set before serving; read-only after.
	behind func() bool
}

// ReasonAuditUnavailable refuses requests while the audit log cannot be
// written and the failure policy is fail-closed.
var ReasonAuditUnavailable = filters.NewReason("audit.unavailable", 503, filters.DecisionFailed, "audit log is unavailable; request not served")

// NewRecorder opens the audit log a config describes (c may be nil: no
// audit log), running its recovery, and feeds every record to observers.
func NewRecorder(c *config.Audit, observers []Observer, log *slog.Logger, set *metrics.Set) (*Recorder, error) {
	r := &Recorder{observers: observers}
	r.entries.New = func() any { return new(auditlog.Entry) }
	if c == nil {
		return r, nil
	}
	key, err := os.ReadFile(c.SigningKeyFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read audit signing key: %w", err)
	}
	durability, err := auditlog.ParseDurability(c.Durability)
	if err != nil {
		return nil, err
	}
	compression, err := auditlog.ParseCompression(c.Compression)
	if err != nil {
		return nil, err
	}
	l, err := auditlog.Open(auditlog.Options{
		Dir:                c.Dir,
		SigningKey:         strings.TrimSpace(string(key)),
		Durability:         durability,
		Compression:        compression,
		FsyncInterval:      c.FsyncInterval.D(),
		CheckpointEvery:    c.CheckpointEvery,
		CheckpointInterval: c.CheckpointInterval.D(),
		SegmentMaxBytes:    int64(c.SegmentMaxBytes),
		MinFreeBytes:       int64(c.MinFreeBytes),
		SegmentMaxAge:      c.SegmentMaxAge.D(),
		RetainSegments:     c.RetainSegments,
		RetainAge:          c.RetainAge.D(),
		Logger:             log,
		SinkURL:            c.SinkURL,
		SinkCommand:        c.SinkCommand,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot open audit log in %s: %w", c.Dir, err)
	}
	r.log, r.failOpen, r.strict = l, c.FailurePolicy == "fail-open", c.Strict
	r.failures = set.NewCounter(`tollgate_audit_write_failures_total`)
	r.unrecorded = set.NewCounter(`tollgate_audit_unrecorded_requests_total`)
	_ = set.NewGauge(`tollgate_audit_healthy`, func() float64 {
		if l.Healthy() {
			return 1
		}
		return 0
	})
	_ = set.NewGauge(`tollgate_audit_records_total`, func() float64 { return float64(l.Stats().Appended) })
	_ = set.NewGauge(`tollgate_audit_checkpoints_total`, func() float64 { return float64(l.Stats().Checkpoints) })
	// Group commits, blocks and syncs: records per group says how well
	// writes are batched under the current load.
	_ = set.NewGauge(`tollgate_audit_groups_total`, func() float64 { return float64(l.Stats().Groups) })
	_ = set.NewGauge(`tollgate_audit_blocks_total`, func() float64 { return float64(l.Stats().Blocks) })
	_ = set.NewGauge(`tollgate_audit_syncs_total`, func() float64 { return float64(l.Stats().Syncs) })
	// Segments retention keeps only because the shipped copy lacks them.
	_ = set.NewGauge(`tollgate_audit_retention_held_segments`, func() float64 { return float64(l.Stats().RetentionHeld) })
	_ = set.NewGauge(`tollgate_audit_compactions_total`, func() float64 { return float64(l.Stats().Compactions) })
	_ = set.NewGauge(`tollgate_audit_compaction_failures_total`, func() float64 { return float64(l.Stats().CompactionFailures) })
	return r, nil
}

// Audits reports whether an audit log is written.
func (r *Recorder) Audits() bool { return r.log != nil }

// Refuse reports whether requests must be refused before they are served:
// the log is unwritable and the policy is fail-closed, or a mandatory copy
// is behind (SetBehind).
func (r *Recorder) Refuse() bool {
	return r.log != nil && (!r.failOpen && !r.log.Healthy() || r.behind != nil && r.behind())
}

// SetBehind adds a condition under which requests are refused with 503
// audit.unavailable, whatever the failure policy: fail-closed shipping
// whose copy has fallen too far behind. It must be called before the
// recorder serves; behind must be cheap and safe for concurrent use.
func (r *Recorder) SetBehind(behind func() bool) { r.behind = behind }

// HoldRetention keeps the log's retention from deleting records at or
// past the index next reports: those a copy elsewhere has not received
// (see auditlog.Log.HoldRetention). Without an audit log it does nothing.
func (r *Recorder) HoldRetention(next func() uint64) {
	if r.log != nil {
		r.log.HoldRetention(next)
	}
}

// Healthy reports whether the audit log (if any) is being written.
func (r *Recorder) Healthy() bool { return r.log == nil || r.log.Healthy() }

// Record builds ex's entry and appends it to the audit log, blocking as
// the durability mode says, then hands it to the observers. On an audit
// failure under fail-open it counts the request as unrecorded and returns
// nil; under fail-closed it returns the error and the engine answers 503
// if the response has not been sent.
func (r *Recorder) Record(ex *filters.Exchange, roles *filters.Roles, end time.Time) error {
	e := r.entries.Get().(*auditlog.Entry)
	fillEntry(e, ex, roles, end)
	var err error
	if r.log != nil {
		_, err = r.log.Append(e)
		err = r.Settle(err)
	}
	if err == nil {
		for _, o := range r.observers {
			o.Observe(e)
		}
	}
	e.Reset()
	r.entries.Put(e)
	return err
}

// RecordFunc is Record for an event loop, which must not wait. It builds
// ex's entry, hands it to the observers and queues it for the audit log;
// the engine calls Commit once it has queued what it has at hand (the
// event loop: the records of an epoll round).
// pending says that done will be called, on whichever goroutine commits
// the record, once it is written or has failed; the engine must hold the
// end of the response until then and pass done's error to Settle. pending
// false means there is nothing to wait for: no audit log, or the record
// could not even be queued, in which case err is what Settle made of it.
func (r *Recorder) RecordFunc(ex *filters.Exchange, roles *filters.Roles, end time.Time, done func(uint64, error)) (pending bool, err error) {
	e := r.entries.Get().(*auditlog.Entry)
	fillEntry(e, ex, roles, end)
	for _, o := range r.observers {
		o.Observe(e)
	}
	if r.log != nil {
		if err = r.log.QueueFunc(e, done); err == nil {
			pending = true
		} else {
			err = r.Settle(err)
		}
	}
	e.Reset()
	r.entries.Put(e)
	return pending, err
}

// Settle accounts for the outcome of an audit write: a failure is counted
// and, under fail-open, also counted as an unrecorded request and
// forgiven. It returns the error the engine must act on (answer 503 or cut
// the response), nil when it may serve.
func (r *Recorder) Settle(err error) error {
	if err == nil {
		return nil
	}
	r.failures.Inc()
	if r.failOpen {
		r.unrecorded.Inc()
		return nil
	}
	return err
}

// BeginStream prepares the KindStreamEnd record of a response whose body
// is streamed after Record: a copy of ex's entry (who, what, status) that
// outlives ex. It returns nil when no audit log is written; otherwise
// EndStream must be called once with the result.
func (r *Recorder) BeginStream(ex *filters.Exchange, roles *filters.Roles) *auditlog.Entry {
	if r.log == nil {
		return nil
	}
	e := r.entries.Get().(*auditlog.Entry)
	fillEntry(e, ex, roles, ex.Start)
	e.Kind = auditlog.KindStreamEnd
	return e
}

// EndStream completes and appends a record made by BeginStream: sent is
// the number of body bytes handed to the client, and reason, if not nil,
// says why the stream stopped before its end (the client went away, the
// upstream broke). The response is already out, so a failure to record
// is counted, not answered. The observers saw the request at Record and
// do not see it again.
func (r *Recorder) EndStream(e *auditlog.Entry, sent int64, reason *filters.Reason, end time.Time) {
	e.Duration = end.UnixNano() - e.Start
	e.BytesOut = uint64(max(sent, 0))
	if reason != nil {
		e.Decision = auditlog.Decision(reason.Decision)
		e.Reason = reason.Code
	}
	if _, err := r.log.Append(e); err != nil {
		r.failures.Inc()
		r.unrecorded.Inc() // the response is out: nothing else to do
	}
	e.Reset()
	r.entries.Put(e)
}

// Commit writes the records that RecordFunc and RecordDecisionFunc queued
// (auditlog.Log.Commit): on the caller's goroutine, unless another caller
// is writing them, and never waiting on a sync. The callbacks of the
// records it writes run before it returns.
func (r *Recorder) Commit() {
	if r.log != nil {
		r.log.Commit()
	}
}

// Strict reports whether a decision record must precede forwarding.
func (r *Recorder) Strict() bool { return r.log != nil && r.strict }

// RecordDecision writes the strict-mode decision record of a request about
// to be forwarded: who, what and the verdict, before the upstream sees it.
// An error means the request must not be forwarded (whatever the failure
// policy: strict mode promises the record exists first).
func (r *Recorder) RecordDecision(ex *filters.Exchange, roles *filters.Roles, now time.Time) error {
	return r.recordDecision(ex, roles, now, nil)
}

// RecordDecisionFunc is RecordDecision for an event loop: it queues the
// decision record and returns (the engine calls Commit, as after
// RecordFunc); done is called once the record is as durable as the mode
// asks, and the request may be forwarded only if done's error is nil
// (count it with DecisionFailed otherwise). An error from
// RecordDecisionFunc itself means done is never called and the request
// must not be forwarded.
func (r *Recorder) RecordDecisionFunc(ex *filters.Exchange, roles *filters.Roles, now time.Time, done func(uint64, error)) error {
	return r.recordDecision(ex, roles, now, done)
}

// DecisionFailed counts a decision record whose write failed.
func (r *Recorder) DecisionFailed() { r.failures.Inc() }

func (r *Recorder) recordDecision(ex *filters.Exchange, roles *filters.Roles, now time.Time, done func(uint64, error)) error {
	e := r.entries.Get().(*auditlog.Entry)
	fillEntry(e, ex, roles, now)
	e.Kind = auditlog.KindDecision
	e.Status = 0
	var err error
	if done != nil {
		err = r.log.QueueFunc(e, done)
	} else {
		_, err = r.log.Append(e)
	}
	if err != nil {
		r.failures.Inc()
	}
	e.Reset()
	r.entries.Put(e)
	return err
}

// Close flushes the audit log and signs a final checkpoint.
func (r *Recorder) Close() error {
	if r.log == nil {
		return nil
	}
	return r.log.Close()
}

// fillEntry copies what the audit log keeps of a request. The query string
// is dropped: it may carry credentials.
func fillEntry(e *auditlog.Entry, ex *filters.Exchange, roles *filters.Roles, end time.Time) {
	e.Start = ex.Start.UnixNano()
	e.Duration = int64(end.Sub(ex.Start))
	e.RequestID = append(e.RequestID[:0], ex.RequestID...)
	e.ClientIP = ex.ClientIP
	e.Method = append(e.Method[:0], ex.Method...)
	e.Path = append(e.Path[:0], ex.Path...)
	e.Ext = e.Ext[:0]
	if raw := rawPath(ex.RawTarget); len(raw) > 0 && !bytes.Equal(raw, ex.Path) {
		// What the client sent, where it is not what was routed: the
		// attempt behind a bad_path refusal, or a dot segment resolved.
		e.Ext = auditlog.AppendExt(e.Ext, auditlog.ExtRawTarget, raw[:min(len(raw), auditlog.MaxRawTarget)])
	}
	if ex.Fallback != "" {
		e.Ext = auditlog.AppendExt(e.Ext, auditlog.ExtFallback, []byte(ex.Fallback)) // rare: only while a store is down
	}
	if ex.Route != nil {
		e.Route = append(e.Route[:0], ex.Route.Pattern...)
		e.Upstream = ex.Route.Upstream
	}
	e.Status = uint16(ex.Status)
	e.BytesIn, e.BytesOut = uint64(ex.BytesIn), uint64(ex.BytesOut)
	e.Decision = auditlog.Decision(ex.Decision())
	if r := ex.Reason(); r != nil {
		e.Reason = r.Code
	}
	e.ConfigGeneration = ex.Generation

	id := &ex.Identity
	e.AuthMethod = ""
	if id.Method != filters.AuthNone {
		e.AuthMethod = id.Method.String()
	}
	if id.Verified {
		e.Principal = append(e.Principal[:0], id.Subject...)
		e.Roles = appendRoleNames(e.Roles[:0], roles, id.Roles)
		return
	}
	if len(id.Subject) == 0 && len(id.Issuer) == 0 && len(id.KeyID) == 0 {
		return
	}
	// Presented but refused: keep only hints, flagged as unverified.
	e.Unverified = true
	e.HintIssuer = append(e.HintIssuer[:0], id.Issuer...)
	e.HintSubjectHash = append(e.HintSubjectHash[:0], id.Subject...)
	if id.Method == filters.AuthAPIKey {
		e.HintKeyFingerprint = append(e.HintKeyFingerprint[:0], id.KeyID...)
	} else {
		e.HintKeyID = append(e.HintKeyID[:0], id.KeyID...)
	}
}

// rawPath is a request target without its query and fragment: the query
// may carry credentials, which the audit log never keeps.
func rawPath(target []byte) []byte {
	if i := bytes.IndexAny(target, "?#"); i >= 0 {
		return target[:i]
	}
	return target
}

func appendRoleNames(dst []byte, roles *filters.Roles, set filters.RoleSet) []byte {
	if roles == nil {
		return dst
	}
	for i := 0; i < filters.MaxRoles && set != 0; i++ {
		if !set.Has(i) {
			continue
		}
		set &^= 1 << uint(i)
		if len(dst) > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, roles.Name(i)...)
	}
	return dst
}
