package pgship

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Table names.
const (
	RecordsTable     = "tollgate_audit_records"
	CheckpointsTable = "tollgate_audit_checkpoints"
	stageTable       = "tollgate_audit_stage"
)

// schemaSQL creates the tables if missing; every statement is idempotent.
const schemaSQL = `
CREATE TABLE IF NOT EXISTS ` + RecordsTable + ` (
	origin      text        NOT NULL,
	idx         bigint      NOT NULL,
	leaf        bytea       NOT NULL,
	kind        text        NOT NULL,
	start_ns    bigint      NOT NULL,
	start_time  timestamptz NOT NULL,
	duration_ns bigint      NOT NULL,
	request_id  text        NOT NULL,
	revealed    boolean     NOT NULL,
	principal   text,
	client_ip   inet,
	auth        text        NOT NULL,
	method      text        NOT NULL,
	route       text        NOT NULL,
	path        text        NOT NULL,
	status      integer     NOT NULL,
	decision    text        NOT NULL,
	reason      text        NOT NULL,
	PRIMARY KEY (origin, idx)
);
CREATE INDEX IF NOT EXISTS tollgate_audit_records_start ON ` + RecordsTable + ` (start_ns);
CREATE INDEX IF NOT EXISTS tollgate_audit_records_request_id ON ` + RecordsTable + ` (request_id);
CREATE TABLE IF NOT EXISTS ` + CheckpointsTable + ` (
	origin text   NOT NULL,
	size   bigint NOT NULL,
	root   bytea  NOT NULL,
	note   text   NOT NULL,
	PRIMARY KEY (origin, size)
);`

// makeSchema creates the tables if missing. Instances of a cluster connect
// at the same moment on its first start, and CREATE ... IF NOT EXISTS is
// not safe against a concurrent copy of itself (the loser fails on a
// duplicate catalog row), so the statements run in one transaction under
// a transaction-scoped advisory lock: the first instance makes the tables,
// the others wait and find them.
func makeSchema(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, "BEGIN; SELECT pg_advisory_xact_lock(hashtext('"+RecordsTable+"'));"+schemaSQL+"; COMMIT"); err != nil {
		return fmt.Errorf("cannot create audit tables: %w", err)
	}
	return nil
}

// stageSQL makes the per-connection staging table COPY writes into.
const stageSQL = `CREATE TEMP TABLE IF NOT EXISTS ` + stageTable + ` (LIKE ` + RecordsTable + `) ON COMMIT DELETE ROWS`

// columns are the record columns in table order.
var columns = []string{"origin", "idx", "leaf", "kind", "start_ns", "start_time", "duration_ns", "request_id",
	"revealed", "principal", "client_ip", "auth", "method", "route", "path", "status", "decision", "reason"}

// text makes bytes storable in a text column: PostgreSQL text holds valid
// UTF-8 without NUL. The leaf keeps the exact bytes.
func text(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return s
}
