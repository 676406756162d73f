package pgship

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-proxy/tollgate/auditlog"
)

// Query calls fn, in start-time order across every origin, for each
// shipped record that f selects, as the local reader's Scan would: the
// record is decoded from its leaf bytes, with the principal and client
// address the shipper revealed. f.From is ignored (indices are per
// origin); origin, when not empty, keeps one origin. rec is valid only
// during the call; fn may return an error to stop.
func Query(ctx context.Context, url, origin string, f *auditlog.Filter, fn func(origin string, index uint64, rec *auditlog.Record) error) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("cannot connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	sql, args := querySQL(origin, f)
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("cannot query audit records: %w", err)
	}
	defer rows.Close()
	var (
		rec       auditlog.Record
		org       string
		idx       int64
		leaf      []byte
		revealed  bool
		principal *string
		clientIP  *netip.Prefix
		matched   int
	)
	for rows.Next() {
		if err := rows.Scan(&org, &idx, &leaf, &revealed, &principal, &clientIP); err != nil {
			return fmt.Errorf("cannot read audit record: %w", err)
		}
		if err := auditlog.DecodeEntry(leaf, &rec); err != nil {
			return fmt.Errorf("origin %q record %d: %w", org, idx, err)
		}
		rec.Revealed = revealed || !rec.HasPrincipal && !rec.HasClientIP
		if revealed && principal != nil {
			rec.Principal = []byte(*principal)
		}
		if revealed && clientIP != nil {
			rec.ClientIP = clientIP.Addr()
		}
		if !f.Match(&rec) {
			continue
		}
		if err := fn(org, uint64(idx), &rec); err != nil {
			return err
		}
		if matched++; f.Limit > 0 && matched >= f.Limit {
			return nil
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot query audit records: %w", err)
	}
	return nil
}

// querySQL narrows the rows in the database with the filters that map
// onto columns; Filter.Match then decides exactly, on the leaf.
func querySQL(origin string, f *auditlog.Filter) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if origin != "" {
		add("origin = ?", origin)
	}
	if f.Since != 0 {
		add("start_ns >= ?", f.Since)
	}
	if f.Until != 0 {
		add("start_ns <= ?", f.Until)
	}
	if f.Method != "" {
		add("method = ?", text([]byte(f.Method)))
	}
	if f.Route != "" {
		add("route = ?", text([]byte(f.Route)))
	}
	if f.Status != 0 {
		add("status = ?", f.Status)
	}
	if f.Decision != "" {
		add("decision = ?", f.Decision)
	}
	if f.Reason != "" {
		add("reason = ?", text([]byte(f.Reason)))
	}
	if f.RequestID != "" {
		add("request_id = ?", text([]byte(f.RequestID)))
	}
	if f.Principal != "" {
		add("revealed AND principal = ?", text([]byte(f.Principal)))
	}
	sql := `SELECT origin, idx, leaf, revealed, principal, client_ip FROM ` + RecordsTable
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY start_ns, origin, idx"
	if f.Limit > 0 && f.PathPrefix == "" {
		sql += " LIMIT " + strconv.Itoa(f.Limit)
	}
	return sql, args
}

// Origins returns the origins the database holds records or checkpoints of.
func Origins(ctx context.Context, conn *pgx.Conn) ([]string, error) {
	rows, err := conn.Query(ctx, `SELECT origin FROM `+RecordsTable+` UNION SELECT origin FROM `+CheckpointsTable+` ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("cannot list origins: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
