package engine

import (
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

// Auditor turns each finished request into an audit log entry. It lives
// for the whole process (a reload does not reopen the log) and is shared by
// every engine.
type Auditor struct {
	log      *auditlog.Log
	failOpen bool
	entries  sync.Pool

	failures   *metrics.Counter // records that could not be written
	unrecorded *metrics.Counter // requests served without a record (fail-open)
}

// ReasonAuditUnavailable refuses requests while the audit log cannot be
// written and the failure policy is fail-closed.
var ReasonAuditUnavailable = filters.NewReason("audit.unavailable", 503, filters.DecisionFailed, "audit log is unavailable; request not served")

// OpenAuditor opens the audit log a config describes, running its recovery.
func OpenAuditor(c *config.Audit, log *slog.Logger, set *metrics.Set) (*Auditor, error) {
	key, err := os.ReadFile(c.SigningKeyFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read audit signing key: %w", err)
	}
	durability, err := auditlog.ParseDurability(c.Durability)
	if err != nil {
		return nil, err
	}
	l, err := auditlog.Open(auditlog.Options{
		Dir:                c.Dir,
		SigningKey:         strings.TrimSpace(string(key)),
		Durability:         durability,
		FsyncInterval:      c.FsyncInterval.D(),
		CheckpointEvery:    c.CheckpointEvery,
		CheckpointInterval: c.CheckpointInterval.D(),
		SegmentMaxBytes:    int64(c.SegmentMaxBytes),
		SegmentMaxAge:      c.SegmentMaxAge.D(),
		Logger:             log,
		SinkURL:            c.SinkURL,
		SinkCommand:        c.SinkCommand,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot open audit log in %s: %w", c.Dir, err)
	}
	a := &Auditor{log: l, failOpen: c.FailurePolicy == "fail-open"}
	a.entries.New = func() any { return new(auditlog.Entry) }
	a.failures = set.NewCounter(`tollgate_audit_write_failures_total`)
	a.unrecorded = set.NewCounter(`tollgate_audit_unrecorded_requests_total`)
	_ = set.NewGauge(`tollgate_audit_healthy`, func() float64 {
		if l.Healthy() {
			return 1
		}
		return 0
	})
	_ = set.NewGauge(`tollgate_audit_records_total`, func() float64 { return float64(l.Stats().Appended) })
	_ = set.NewGauge(`tollgate_audit_checkpoints_total`, func() float64 { return float64(l.Stats().Checkpoints) })
	return a, nil
}

// Refuse reports whether requests must be refused before they are served:
// the log is unwritable and the policy is fail-closed.
func (a *Auditor) Refuse() bool { return !a.failOpen && !a.log.Healthy() }

// Healthy reports whether the log is being written.
func (a *Auditor) Healthy() bool { return a.log.Healthy() }

// Record appends ex's entry, blocking as the durability mode says. On
// failure under fail-open it counts the request as unrecorded and returns
// nil; under fail-closed it returns the error and the engine answers 503
// if the response has not been sent.
func (a *Auditor) Record(ex *filters.Exchange, roles *filters.Roles, end time.Time) error {
	e := a.entries.Get().(*auditlog.Entry)
	fillEntry(e, ex, roles, end)
	_, err := a.log.Append(e)
	e.Reset()
	a.entries.Put(e)
	if err != nil {
		a.failures.Inc()
		if a.failOpen {
			a.unrecorded.Inc()
			return nil
		}
		return err
	}
	return nil
}

// Close flushes the log and signs a final checkpoint.
func (a *Auditor) Close() error { return a.log.Close() }

// fillEntry copies what the audit log keeps of a request. The query string
// is dropped: it may carry credentials.
func fillEntry(e *auditlog.Entry, ex *filters.Exchange, roles *filters.Roles, end time.Time) {
	e.Start = ex.Start.UnixNano()
	e.Duration = int64(end.Sub(ex.Start))
	e.RequestID = append(e.RequestID[:0], ex.RequestID...)
	e.ClientIP = ex.ClientIP
	e.Method = append(e.Method[:0], ex.Method...)
	e.Path = append(e.Path[:0], ex.Path...)
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
