// Package pgship ships a Tollgate audit log to PostgreSQL, so several
// instances can be searched and verified in one place, and reads it back.
//
// Each instance keeps its local, verifiable log as the source of truth
// (package auditlog); a Shipper tails that log's files with an
// auditlog.Follower — never the writer's memory, so it cannot slow the
// append path — and copies every record and every signed checkpoint to two
// tables:
//
//	tollgate_audit_records      (origin, idx) primary key; the exact leaf
//	                            bytes, and decoded columns to query
//	tollgate_audit_checkpoints  (origin, size) primary key; the signed
//	                            note text (C2SP tlog-checkpoint)
//
// # Exactly once
//
// A batch is COPYed into a temporary staging table and moved with INSERT
// … SELECT … ON CONFLICT DO NOTHING in one transaction, so a batch sent
// twice (the commit reached the server, its answer did not reach us) lands
// once. On every (re)connection the shipper asks the database for the last
// index it holds for its origin and resumes from the next one: the
// database, not a local cursor, says what is shipped, so a restart of
// either side neither duplicates nor skips. A checkpoint is shipped only
// once every record it covers is, so the database always verifies. The
// same rule makes Reconfigure safe: a shipper moved to another database
// (a config reload with a new URL) asks that one where its copy ends and
// sends it everything past that, from index 0 for an empty one.
//
// # Bounded memory, lag and failure
//
// The shipper holds one batch (BatchRecords records) at a time. While
// PostgreSQL is unreachable it retries with a backoff up to five seconds;
// the local log keeps growing and nothing is lost: the proxy holds the
// log's retention at Shipped (auditlog.Log.HoldRetention), so a segment is
// deleted only once the database holds all of it, and the shipper records
// that position in the log directory (auditlog.MarkCopied, at most once a
// second) for "audit prune" run offline. The lag, in records, is
// the metric tollgate_audit_ship_lag_records, beside
// tollgate_audit_ship_records_total, tollgate_audit_ship_checkpoints_total,
// tollgate_audit_ship_failures_total and
// tollgate_audit_ship_lost_records_total (records deleted before they were
// shipped, by a log pruned offline or before shipping was configured: a
// gap Verify will report). By default requests keep flowing
// whatever the lag. With MaxLag set the operator chooses fail-closed
// shipping: Behind reports true while more than MaxLag records wait, the
// proxy's /readyz then reports not ready and requests are refused with
// 503 audit.unavailable; both clear once the shipper catches up. The lag
// is measured every Interval, so the bound is approximate by at most the
// records of one interval.
//
// # Reading back
//
// Query answers the local "audit query" filters across every origin in
// the database, rebuilding each record from its leaf bytes. Verify checks
// every origin against its signed checkpoints: it recomputes the RFC 6962
// leaf hashes (RFC 6962 §2.1) from the stored leaf bytes, rebuilds the
// tree with a compact range (github.com/transparency-dev/merkle) in
// constant memory, compares each checkpoint's root and signature, and
// checks the decoded columns against the leaf. A deleted row is a gap,
// named by origin and index; a changed leaf or column is named by origin
// and index when it no longer matches its own leaf, and by the range
// between two checkpoints when the leaf and every column were changed
// consistently (only the signed roots vouch for the leaf bytes, so the
// range is as narrow as the checkpoint cadence). The principal and
// client_ip columns are the revealed values; the leaf holds only salted
// commitments to them, so Verify cannot check those two columns. Records
// past the last shipped checkpoint are not yet covered by a signature and
// are reported as such. Verify needs the records from index 0: a log
// shipped for the first time after retention deleted its start is
// reported with a gap.
package pgship
