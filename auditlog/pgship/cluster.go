package pgship

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Cluster answers the live dashboard's cluster view from the records every
// instance shipped: per-origin counts and how far each origin's copy has
// got, and cluster-wide top lists, over a window ending now.
//
// Every query is bounded: the window's records are reached through the
// start_ns index, each origin's newest record through the (origin, idx)
// primary key (a skip scan over at most MaxOrigins origins, not a scan of
// the table), the top lists and status codes carry a LIMIT, and the
// server cancels any statement past the pool's statement_timeout. The
// dashboard caches the answer for a short while, so a page refresh does not
// reach the database at all.
type Cluster struct {
	// pool holds at most two connections, opened on first use and again
	// after a failure.
	pool *pgxpool.Pool
	// top is the length of each top list.
	top int
}

// MaxOrigins caps the origins a cluster view lists.
const MaxOrigins = 256

// ClusterOptions configures NewCluster.
type ClusterOptions struct {
	// URL is the PostgreSQL connection URL the shipper uses.
	URL string
	// Top is the length of each top list; default 10.
	Top int
	// StatementTimeout bounds every statement on the server; default 2s.
	StatementTimeout time.Duration
}

// NewCluster prepares a cluster view of the database at o.URL. It does not
// connect: a database that is down now is reported by Stats, not here.
func NewCluster(o ClusterOptions) (*Cluster, error) {
	if o.Top <= 0 {
		o.Top = 10
	}
	if o.StatementTimeout <= 0 {
		o.StatementTimeout = 2 * time.Second
	}
	cfg, err := pgxpool.ParseConfig(o.URL)
	if err != nil {
		return nil, fmt.Errorf("cannot parse PostgreSQL URL: %w", err)
	}
	cfg.MaxConns = 2
	cfg.MinConns = 0
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(o.StatementTimeout.Milliseconds(), 10)
	cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	cfg.ConnConfig.RuntimeParams["application_name"] = "tollgate-dashboard"
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot prepare PostgreSQL pool: %w", err)
	}
	return &Cluster{pool: pool, top: o.Top}, nil
}

// Close closes the pool's connections.
func (c *Cluster) Close() { c.pool.Close() }

// ClusterStats is the cluster view over one window.
type ClusterStats struct {
	// Now is the end of the window; Since its start.
	Now   time.Time `json:"now"`
	Since time.Time `json:"since"`
	// Window is the window's length, such as "15m".
	Window string `json:"window"`
	// Totals aggregates the window's requests over every origin.
	Totals ClusterCounts `json:"totals"`
	// Origins lists every origin the database holds records of, by name.
	Origins []OriginStats `json:"origins"`
	// Top holds the cluster-wide top lists, largest first: "endpoints"
	// (route templates, "(none)" when no route matched) and "principals"
	// (anonymous requests are not listed).
	Top map[string][]ClusterTop `json:"top"`
	// Statuses counts the window's requests by status code, by code.
	Statuses []StatusCount `json:"statuses"`
}

// ClusterCounts counts the completed requests of a window. Errors and
// failures are as on the local dashboard: an error is a status ≥ 400 or a
// decision other than allowed; a failure a 5xx or an upstream or proxy
// failure.
type ClusterCounts struct {
	Requests    int64            `json:"requests"`
	Errors      int64            `json:"errors"`
	Failures    int64            `json:"failures"`
	Denied      int64            `json:"denied"`
	Limited     int64            `json:"limited"`
	ErrorRate   float64          `json:"error_rate"`
	FailureRate float64          `json:"failure_rate"`
	Classes     map[string]int64 `json:"classes"`
}

// OriginStats is one origin's (one instance's) share of the window and how
// far its copy in the database has got.
type OriginStats struct {
	Origin string `json:"origin"`
	ClusterCounts
	// LastIndex is the index of the newest record the database holds.
	LastIndex int64 `json:"last_index"`
	// LastTime is that record's start time.
	LastTime time.Time `json:"last_time"`
	// LagSeconds is Now minus LastTime: how old the newest shipped record
	// is. An instance that serves traffic and ships keeps it small; a
	// growing lag means it stopped serving, or stopped shipping.
	LagSeconds float64 `json:"lag_seconds"`
}

// ClusterTop is one line of a top list.
type ClusterTop struct {
	Name     string `json:"name"`
	Requests int64  `json:"requests"`
	Errors   int64  `json:"errors"`
}

// StatusCount counts the requests answered with one status code.
type StatusCount struct {
	Status   int   `json:"status"`
	Requests int64 `json:"requests"`
}

// The counting columns shared by the per-origin query; kind completion
// only, so a strict-mode decision record or a stream's end record does not
// count a request twice.
const countCols = `count(*),
	count(*) FILTER (WHERE status >= 400 OR decision <> 'allowed'),
	count(*) FILTER (WHERE status >= 500 OR decision IN ('upstream_error', 'failed')),
	count(*) FILTER (WHERE decision = 'denied'),
	count(*) FILTER (WHERE decision = 'limited'),
	count(*) FILTER (WHERE status BETWEEN 100 AND 199),
	count(*) FILTER (WHERE status BETWEEN 200 AND 299),
	count(*) FILTER (WHERE status BETWEEN 300 AND 399),
	count(*) FILTER (WHERE status BETWEEN 400 AND 499),
	count(*) FILTER (WHERE status BETWEEN 500 AND 599)`

const inWindow = `kind = 'completion' AND start_ns >= $1 AND start_ns <= $2`

var (
	// originsSQL counts the window per origin.
	originsSQL = `SELECT origin, ` + countCols + ` FROM ` + RecordsTable + ` WHERE ` + inWindow + ` GROUP BY origin`
	// lastSQL finds every origin's newest record with a skip scan over
	// the primary key: one index probe per origin.
	lastSQL = `WITH RECURSIVE o(origin, n) AS (
	(SELECT origin, 1 FROM ` + RecordsTable + ` ORDER BY origin LIMIT 1)
	UNION ALL
	SELECT (SELECT r.origin FROM ` + RecordsTable + ` r WHERE r.origin > o.origin ORDER BY r.origin LIMIT 1), o.n + 1
	FROM o WHERE o.origin IS NOT NULL AND o.n < ` + strconv.Itoa(MaxOrigins) + `
)
SELECT o.origin, l.idx, l.start_ns FROM o CROSS JOIN LATERAL (
	SELECT idx, start_ns FROM ` + RecordsTable + ` r WHERE r.origin = o.origin ORDER BY idx DESC LIMIT 1
) l WHERE o.origin IS NOT NULL`
	endpointsSQL = `SELECT CASE WHEN route = '' THEN '(none)' ELSE route END, count(*),
	count(*) FILTER (WHERE status >= 400 OR decision <> 'allowed')
	FROM ` + RecordsTable + ` WHERE ` + inWindow + ` GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $3`
	principalsSQL = `SELECT principal, count(*), count(*) FILTER (WHERE status >= 400 OR decision <> 'allowed')
	FROM ` + RecordsTable + ` WHERE ` + inWindow + ` AND principal IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $3`
	statusesSQL = `SELECT status, count(*) FROM ` + RecordsTable + ` WHERE ` + inWindow + ` GROUP BY 1 ORDER BY 1 LIMIT 100`
)

// Stats answers the cluster view of the window (now−window, now]. It sends
// every query in one batch, one round trip. A database no shipper has
// written to yet (no tables) is an empty view, not an error.
func (c *Cluster) Stats(ctx context.Context, now time.Time, window time.Duration) (*ClusterStats, error) {
	st, err := c.stats(ctx, now, window)
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
		return c.empty(now, window), nil
	}
	return st, err
}

func (c *Cluster) empty(now time.Time, window time.Duration) *ClusterStats {
	since := now.Add(-window)
	st := &ClusterStats{Now: now.UTC(), Since: since.UTC(), Window: windowName(window),
		Origins: []OriginStats{}, Statuses: []StatusCount{},
		Top: map[string][]ClusterTop{"endpoints": {}, "principals": {}}}
	st.Totals.Classes = classMap(nil)
	return st
}

func (c *Cluster) stats(ctx context.Context, now time.Time, window time.Duration) (*ClusterStats, error) {
	since := now.Add(-window)
	lo, hi := since.UnixNano()+1, now.UnixNano()
	var b pgx.Batch
	b.Queue(originsSQL, lo, hi)
	b.Queue(lastSQL)
	b.Queue(endpointsSQL, lo, hi, c.top)
	b.Queue(principalsSQL, lo, hi, c.top)
	b.Queue(statusesSQL, lo, hi)
	res := c.pool.SendBatch(ctx, &b)
	defer res.Close()

	st := c.empty(now, window)
	byOrigin := map[string]*OriginStats{}
	origin := func(name string) *OriginStats {
		o := byOrigin[name]
		if o == nil {
			o = &OriginStats{Origin: name, ClusterCounts: ClusterCounts{Classes: classMap(nil)}, LastIndex: -1}
			byOrigin[name] = o
		}
		return o
	}

	rows, err := res.Query()
	if err != nil {
		return nil, fmt.Errorf("cannot count the window per origin: %w", err)
	}
	var name string
	var n [10]int64
	if _, err := pgx.ForEachRow(rows, []any{&name, &n[0], &n[1], &n[2], &n[3], &n[4], &n[5], &n[6], &n[7], &n[8], &n[9]}, func() error {
		o := origin(name)
		o.Requests, o.Errors, o.Failures, o.Denied, o.Limited = n[0], n[1], n[2], n[3], n[4]
		o.Classes = classMap(n[5:10])
		return nil
	}); err != nil {
		return nil, fmt.Errorf("cannot count the window per origin: %w", err)
	}

	if rows, err = res.Query(); err != nil {
		return nil, fmt.Errorf("cannot find each origin's newest record: %w", err)
	}
	var idx, startNs int64
	if _, err := pgx.ForEachRow(rows, []any{&name, &idx, &startNs}, func() error {
		o := origin(name)
		o.LastIndex = idx
		o.LastTime = time.Unix(0, startNs).UTC()
		o.LagSeconds = max(now.Sub(o.LastTime).Seconds(), 0)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("cannot find each origin's newest record: %w", err)
	}

	for _, dim := range []string{"endpoints", "principals"} {
		if rows, err = res.Query(); err != nil {
			return nil, fmt.Errorf("cannot list top %s: %w", dim, err)
		}
		list := []ClusterTop{}
		var t ClusterTop
		if _, err := pgx.ForEachRow(rows, []any{&t.Name, &t.Requests, &t.Errors}, func() error {
			list = append(list, t)
			return nil
		}); err != nil {
			return nil, fmt.Errorf("cannot list top %s: %w", dim, err)
		}
		st.Top[dim] = list
	}

	if rows, err = res.Query(); err != nil {
		return nil, fmt.Errorf("cannot count status codes: %w", err)
	}
	var sc StatusCount
	if _, err := pgx.ForEachRow(rows, []any{&sc.Status, &sc.Requests}, func() error {
		st.Statuses = append(st.Statuses, sc)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("cannot count status codes: %w", err)
	}
	if err := res.Close(); err != nil {
		return nil, fmt.Errorf("cannot read the cluster view: %w", err)
	}

	names := make([]string, 0, len(byOrigin))
	for name := range byOrigin {
		names = append(names, name)
	}
	slices.Sort(names)
	t := &st.Totals
	for _, name := range names {
		o := byOrigin[name]
		o.rates()
		st.Origins = append(st.Origins, *o)
		t.Requests += o.Requests
		t.Errors += o.Errors
		t.Failures += o.Failures
		t.Denied += o.Denied
		t.Limited += o.Limited
		for k, v := range o.Classes {
			t.Classes[k] += v
		}
	}
	t.rates()
	return st, nil
}

// classMap names counts of 1xx…5xx; "other" is filled in by rates.
func classMap(n []int64) map[string]int64 {
	m := map[string]int64{"1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0, "other": 0}
	for i, v := range n {
		m[strconv.Itoa(i+1)+"xx"] = v
	}
	return m
}

// rates fills in the rates and the "other" class.
func (c *ClusterCounts) rates() {
	var classed int64
	for k, v := range c.Classes {
		if k != "other" {
			classed += v
		}
	}
	c.Classes["other"] = c.Requests - classed
	if c.Requests > 0 {
		c.ErrorRate = float64(c.Errors) / float64(c.Requests)
		c.FailureRate = float64(c.Failures) / float64(c.Requests)
	}
}

// windowName formats d as the dashboard names windows: "15m", "1h", "90s".
func windowName(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}
