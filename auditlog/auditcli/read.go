package auditcli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
)

// printer prints records as an aligned table or NDJSON.
type printer struct {
	w    *bufio.Writer
	tw   *tabwriter.Writer
	json bool
	buf  []byte
	rows int
	// origins adds an ORIGIN column (an "origin" key in JSON): records
	// read from a database hold several logs, each with its own indices.
	origins bool
	origin  string
}

func newPrinter(w io.Writer, json bool) *printer {
	p := &printer{w: bufio.NewWriter(w), json: json}
	if !json {
		p.tw = tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
	}
	return p
}

// recordOf prints a record of one of several logs.
func (p *printer) recordOf(origin string, idx uint64, rec *auditlog.Record) {
	p.origin = origin
	p.record(idx, rec)
}

func (p *printer) record(idx uint64, rec *auditlog.Record) {
	if p.json {
		p.buf = p.buf[:0]
		if p.origins {
			// {"origin":"…", then the record's own object without its brace.
			q, _ := json.Marshal(p.origin)
			p.buf = append(append(append(p.buf, `{"origin":`...), q...), ',')
			mark := len(p.buf)
			p.buf = rec.AppendJSON(p.buf, idx)
			p.buf = append(p.buf[:mark], p.buf[mark+1:]...)
		} else {
			p.buf = rec.AppendJSON(p.buf, idx)
		}
		p.buf = append(p.buf, '\n')
		p.w.Write(p.buf)
		return
	}
	if p.rows == 0 {
		if p.origins {
			fmt.Fprint(p.tw, "ORIGIN\t")
		}
		fmt.Fprintln(p.tw, "INDEX\tTIME\tPRINCIPAL\tCLIENT\tMETHOD\tPATH\tSTATUS\tDECISION\tREASON\tDURATION\tREQUEST ID")
	}
	if p.origins {
		q := strconv.QuoteToASCII(p.origin)
		fmt.Fprintf(p.tw, "%s\t", q[1:len(q)-1])
	}
	p.rows++
	principal := "-"
	switch {
	case rec.HasPrincipal && rec.Revealed:
		principal = string(rec.Principal)
	case rec.HasPrincipal:
		principal = "(erased)"
	}
	if rec.Unverified && rec.HasPrincipal {
		principal += " (unverified)"
	}
	client := rec.ClientIPString()
	if client == "" {
		client = "-"
	}
	reason := string(rec.Reason)
	if reason == "" {
		reason = "-"
	}
	fmt.Fprintf(p.tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", idx,
		time.Unix(0, rec.Start).UTC().Format("2006-01-02T15:04:05.000Z"), principal, client,
		rec.Method, displayPath(rec), rec.Status, rec.Decision, reason,
		time.Duration(rec.Duration).Round(time.Microsecond), rec.RequestID)
}

func (p *printer) flush() {
	if p.tw != nil {
		p.tw.Flush()
	}
	p.w.Flush()
}

func (c *cmd) query(args []string) int {
	fs := c.flags(true)
	fs.IntVar(&c.filter.limit, "limit", 0, "stop after this many records (0: all)")
	pg := fs.String("pg", "", "query the PostgreSQL database the proxies ship to (a URL) instead of --dir: every origin")
	origin := fs.String("origin", "", "with --pg, only this log origin")
	if _, ok := c.parse(args); !ok {
		return exitUsage
	}
	flt, err := c.buildFilter()
	if err != nil {
		return c.usageErr("%v", err)
	}
	if *pg != "" {
		return c.pgQuery(*pg, *origin, &flt)
	}
	if *origin != "" {
		return c.usageErr("--origin needs --pg")
	}
	r, err := auditlog.OpenReader(c.dir)
	if err != nil {
		return c.fail(err)
	}
	defer r.Close()
	p := newPrinter(c.stdout, c.json)
	err = r.Scan(&flt, func(idx uint64, rec *auditlog.Record) error {
		p.record(idx, rec)
		return nil
	})
	p.flush()
	if err != nil {
		return c.fail(err)
	}
	return exitOK
}

func (c *cmd) tail(args []string) int {
	fs := c.flags(true)
	follow := fs.Bool("f", false, "follow: keep printing new records")
	n := fs.Int("n", 10, "without --from, start this many records before the end")
	fs.StringVar(&c.filter.from, "from", "", "start at this index or time")
	poll := fs.Duration("poll", 250*time.Millisecond, "poll interval with -f")
	if _, ok := c.parse(args); !ok {
		return exitUsage
	}
	flt, err := c.buildFilter()
	if err != nil {
		return c.usageErr("%v", err)
	}
	var next uint64
	fromSet := c.filter.from != ""
	if fromSet {
		if i, err := strconv.ParseUint(c.filter.from, 10, 64); err == nil && len(c.filter.from) < 12 {
			next = i
		} else if t, err := c.parseTime(c.filter.from); err == nil {
			flt.Since = max(flt.Since, t)
		} else {
			return c.usageErr("--from: want an index or a time: %v", err)
		}
	}
	p := newPrinter(c.stdout, c.json)
	first := true
	for {
		r, err := auditlog.OpenReader(c.dir)
		if err != nil {
			return c.fail(err)
		}
		size, err := r.Size()
		if err == nil && first && !fromSet && size > uint64(*n) {
			next = size - uint64(*n)
		}
		first = false
		if err == nil && size > next {
			flt.From = next
			err = r.Scan(&flt, func(idx uint64, rec *auditlog.Record) error {
				p.record(idx, rec)
				return nil
			})
			next = size
		}
		r.Close()
		p.flush()
		if err != nil {
			return c.fail(err)
		}
		if !*follow {
			return exitOK
		}
		time.Sleep(*poll)
	}
}

func (c *cmd) stats(args []string) int {
	c.flags(true)
	if _, ok := c.parse(args); !ok {
		return exitUsage
	}
	flt, err := c.buildFilter()
	if err != nil {
		return c.usageErr("%v", err)
	}
	r, err := auditlog.OpenReader(c.dir)
	if err != nil {
		return c.fail(err)
	}
	defer r.Close()
	// Counts are per request: a request's completion record counts once;
	// a strict-mode decision record does not count again, and a stream_end
	// record only moves a stream cut short from allowed to its outcome.
	byDecision, byPrincipal, byRoute := map[string]int{}, map[string]int{}, map[string]int{}
	total, requests := 0, 0
	var first, last int64
	err = r.Scan(&flt, func(_ uint64, rec *auditlog.Record) error {
		total++
		if first == 0 || rec.Start < first {
			first = rec.Start
		}
		last = max(last, rec.Start)
		switch rec.Kind {
		case auditlog.KindDecision:
			return nil
		case auditlog.KindStreamEnd:
			allowed := auditlog.DecisionAllowed.String()
			if rec.Decision == auditlog.DecisionAllowed {
				return nil
			}
			if byDecision[allowed] > 0 { // its completion was counted as allowed
				if byDecision[allowed]--; byDecision[allowed] == 0 {
					delete(byDecision, allowed)
				}
				byDecision[rec.Decision.String()]++
				return nil
			}
			// The filters left its completion out: count the request here.
		}
		requests++
		byDecision[rec.Decision.String()]++
		p := "-"
		if rec.HasPrincipal {
			p = "(erased)"
			if rec.Revealed {
				p = string(rec.Principal)
			}
		}
		byPrincipal[p]++
		route := string(rec.Route)
		if route == "" {
			route = "-"
		}
		byRoute[route]++
		return nil
	})
	if err != nil {
		return c.fail(err)
	}
	// What the whole log takes on disk, whatever the filter.
	u, err := r.Usage()
	if err != nil {
		return c.fail(err)
	}
	w := bufio.NewWriter(c.stdout)
	defer w.Flush()
	if c.json {
		fmt.Fprintf(w, `{"records":%d,"requests":%d,"decision":%s,"principal":%s,"route":%s,"disk":{"segments":%d,"sealed_bytes":%d,"sealed_records":%d,"active_bytes":%d,"active_records":%d}}`+"\n",
			total, requests, jsonCounts(byDecision), jsonCounts(byPrincipal), jsonCounts(byRoute),
			u.Segments, u.SealedBytes, u.SealedRecords, u.ActiveBytes, u.ActiveRecords)
		return exitOK
	}
	fmt.Fprintf(w, "records: %d", total)
	if total > 0 {
		fmt.Fprintf(w, " (%s .. %s)", time.Unix(0, first).UTC().Format(time.RFC3339), time.Unix(0, last).UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "\nrequests: %d\n", requests)
	fmt.Fprintf(w, "disk: %s", diskLine(u))
	for _, g := range []struct {
		name string
		m    map[string]int
	}{{"DECISION", byDecision}, {"PRINCIPAL", byPrincipal}, {"ROUTE", byRoute}} {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "%s\tCOUNT\t\n", g.name)
		for _, kv := range sortedCounts(g.m, 20) {
			fmt.Fprintf(tw, "%s\t%d\t\n", kv.k, kv.n)
		}
		tw.Flush()
	}
	return exitOK
}

// diskLine describes u: the blocks' bytes in all, per record, and per
// record in the sealed segments and in the active one apart.
func diskLine(u auditlog.Usage) string {
	perRecord := func(b int64, n uint64) string {
		if n == 0 {
			return "-"
		}
		return strconv.FormatFloat(float64(b)/float64(n), 'f', 1, 64) + " B"
	}
	b, n := u.Bytes(), u.Records()
	segments := "segments"
	if u.Segments == 1 {
		segments = "segment"
	}
	return fmt.Sprintf("%d bytes in %d %s, %s per record (sealed %s, active %s)\n",
		b, u.Segments, segments, perRecord(b, n), perRecord(u.SealedBytes, u.SealedRecords), perRecord(u.ActiveBytes, u.ActiveRecords))
}

type kv struct {
	k string
	n int
}

func sortedCounts(m map[string]int, top int) []kv {
	out := make([]kv, 0, len(m))
	for k, n := range m {
		out = append(out, kv{k, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].n > out[j].n || out[i].n == out[j].n && out[i].k < out[j].k })
	if top > 0 && len(out) > top {
		out = out[:top]
	}
	return out
}

func jsonCounts(m map[string]int) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, kv := range sortedCounts(m, 0) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(kv.k))
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(kv.n))
	}
	b.WriteByte('}')
	return b.String()
}

// displayPath is the PATH column: the normalized path, and the raw target
// the client sent when the record has one, quoted with every control and
// non-printable byte escaped, so a hostile target cannot move the cursor
// or forge a column.
func displayPath(rec *auditlog.Record) string {
	raw := rec.RawTarget()
	switch {
	case len(raw) == 0 && len(rec.Path) == 0:
		return "-"
	case len(raw) == 0:
		q := strconv.QuoteToASCII(string(rec.Path))
		return q[1 : len(q)-1]
	case len(rec.Path) == 0:
		return "sent " + strconv.QuoteToASCII(string(raw))
	}
	return string(rec.Path) + " (sent " + strconv.QuoteToASCII(string(raw)) + ")"
}
