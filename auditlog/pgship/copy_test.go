package pgship

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/internal/testpg"
)

// pgxRow is a record's row as pgx encodes it from Go values: the
// reference the binary COPY encoder must match column for column.
func pgxRow(origin string, idx uint64, leaf []byte, rec *auditlog.Record) []any {
	var principal, clientIP any
	if rec.Revealed && rec.HasPrincipal {
		principal = text(rec.Principal)
	}
	if rec.Revealed && rec.HasClientIP && rec.ClientIP.IsValid() {
		clientIP = netip.PrefixFrom(rec.ClientIP, rec.ClientIP.BitLen())
	}
	return []any{origin, int64(idx), leaf, rec.Kind.String(), rec.Start,
		time.Unix(0, rec.Start).UTC(), rec.Duration, text(rec.RequestID), rec.Revealed, principal, clientIP,
		text(rec.AuthMethod), text(rec.Method), text(rec.Route), text(rec.Path), int32(rec.Status),
		rec.Decision.String(), text(rec.Reason)}
}

// TestCopyBatchMatchesPgx copies edge-case records with the binary COPY
// encoder into one table and with pgx's encoding of the Go values into
// another, and checks the two tables hold the same rows.
func TestCopyBatchMatchesPgx(t *testing.T) {
	pg := testpg.New(t)
	url := dbURL(t, pg, "copyenc", "")
	base := auditlog.Record{Kind: auditlog.KindCompletion, Start: time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC).UnixNano(),
		Duration: 1500, RequestID: []byte("req-1"), AuthMethod: []byte("jwt"), Method: []byte("GET"),
		Route: []byte("/v1/orders/{id}"), Path: []byte("/v1/orders/7"), Status: 200, Decision: auditlog.DecisionAllowed}
	tests := []struct {
		name string
		edit func(r *auditlog.Record)
	}{
		{"revealed ipv4 and principal", func(r *auditlog.Record) {
			r.Revealed, r.HasPrincipal, r.Principal = true, true, []byte("user-1")
			r.HasClientIP, r.ClientIP = true, netip.MustParseAddr("10.0.3.4")
		}},
		{"revealed ipv6", func(r *auditlog.Record) {
			r.Revealed, r.HasClientIP, r.ClientIP = true, true, netip.MustParseAddr("2001:db8::1")
		}},
		{"ipv4 mapped in ipv6", func(r *auditlog.Record) {
			r.Revealed, r.HasClientIP, r.ClientIP = true, true, netip.MustParseAddr("::ffff:192.0.2.1")
		}},
		{"not revealed", func(r *auditlog.Record) {
			r.HasPrincipal, r.Principal = true, []byte("hidden")
			r.HasClientIP, r.ClientIP = true, netip.MustParseAddr("10.0.0.1")
		}},
		{"anonymous denial", func(r *auditlog.Record) {
			r.Revealed, r.Status, r.Decision, r.Reason, r.AuthMethod = true, 401, auditlog.DecisionDenied, []byte("authn.required"), nil
		}},
		{"invalid utf-8 and nul", func(r *auditlog.Record) {
			r.Path, r.RequestID, r.Reason = []byte("/a\xff\xfe/b\x00c"), []byte("\x00"), []byte("ok\xc3")
			r.Revealed, r.HasPrincipal, r.Principal = true, true, []byte("\xffuser\x00")
		}},
		{"empty values", func(r *auditlog.Record) {
			r.RequestID, r.AuthMethod, r.Method, r.Route, r.Path = nil, nil, nil, nil, nil
			r.Revealed, r.HasPrincipal, r.Principal = true, true, nil
		}},
		{"negative start with nanoseconds", func(r *auditlog.Record) { r.Start, r.Duration = -1_500_001, -3 }},
		{"epoch start", func(r *auditlog.Record) { r.Start = 0 }},
		{"sub-microsecond start", func(r *auditlog.Record) { r.Start = 999 }},
		{"other kind, decision and status", func(r *auditlog.Record) {
			r.Kind, r.Decision, r.Status = auditlog.Kind(9), auditlog.Decision(200), 65535
		}},
		{"stream end", func(r *auditlog.Record) { r.Kind = auditlog.KindStreamEnd }},
	}
	var batch copyBatch
	batch.reset()
	var rows [][]any
	for i, tc := range tests {
		rec := base
		tc.edit(&rec)
		leaf := []byte(tc.name)
		batch.add("audit.test/copy", uint64(i), leaf, &rec)
		rows = append(rows, pgxRow("audit.test/copy", uint64(i), leaf, &rec))
	}
	if err := withConn(t, url, func(c *pgx.Conn) error {
		ctx := context.Background()
		if err := makeSchema(ctx, c); err != nil {
			return err
		}
		if _, err := c.Exec(ctx, stageSQL+`; CREATE TABLE want (LIKE `+RecordsTable+`)`); err != nil {
			return err
		}
		tx, err := c.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(batch.data()), copySQL); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+RecordsTable+` SELECT * FROM `+stageTable); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"want"}, columns, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		var n int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM `+RecordsTable).Scan(&n); err != nil {
			return err
		}
		if n != len(tests) {
			t.Errorf("binary COPY stored %d rows; want %d", n, len(tests))
		}
		for _, q := range []string{
			`SELECT idx::text || ' binary COPY: ' || r::text FROM (TABLE ` + RecordsTable + ` EXCEPT ALL TABLE want) r`,
			`SELECT idx::text || ' pgx: ' || r::text FROM (TABLE want EXCEPT ALL TABLE ` + RecordsTable + `) r`,
		} {
			rs, err := c.Query(ctx, q)
			if err != nil {
				return err
			}
			for rs.Next() {
				var s string
				if err := rs.Scan(&s); err != nil {
					return err
				}
				t.Errorf("row differs: %s", s)
			}
			if err := rs.Err(); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// FuzzAppendText checks the fast path of appendText stores what text
// stores.
func FuzzAppendText(f *testing.F) {
	for _, s := range []string{"", "/v1/orders/1", "a\x00b", "\xff\xfe", "ok\xc3", "é\x00\xed\xa0\x80"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		if got, want := appendText(nil, v), appendField(nil, text(v)); !bytes.Equal(got, want) {
			t.Fatalf("appendText(%q) = %q; want %q", v, got, want)
		}
	})
}
