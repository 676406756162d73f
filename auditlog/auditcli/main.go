// Package auditcli is the bundled reader of the audit log: tail, query,
// stats, verify, prove, verify-proof, export-tiles, keygen, repair, erase,
// prune and compact. It works on a log directory without a running proxy;
// the proxy binary mounts it as "tollgate audit …".
package auditcli

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
)

// DefaultDir is the log directory used when --dir is not given.
const DefaultDir = "./data/audit"

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // verification failed or the command failed
	exitUsage  = 2 // bad flags or arguments
)

const usage = `usage: audit <command> [flags]

commands:
  tail [-f] [--from INDEX|TIME] [filters] [--json]   print the newest records, follow with -f
  query [--since T] [--until T] [filters] [--limit N] [--json]
  query --pg URL [--origin O] [filters]              the same across every origin shipped to PostgreSQL
  stats [--since T] [--until T]                      counts by decision, principal and route
  verify [--pub KEY] [--trusted-checkpoint FILE]     check the whole log offline
  verify --pg URL --key VKEY...                      check every shipped origin against its signed checkpoints
  prove --index N | --request-id ID [-o FILE]        write a C2SP tlog-proof
  verify-proof --pub KEY FILE                        check a proof with only the public key
  export-tiles DIR                                   write a C2SP tlog-tiles tree
  keygen --origin NAME --out PREFIX                  write PREFIX.key and PREFIX.pub
  repair --key FILE                                  truncate damage after operator consent
  erase --before TIME                                delete salts: erase personal values
  prune --keep-segments N | --older-than DUR         delete the oldest sealed segments (proxy stopped)
  compact                                            rewrite uncompacted sealed segments in full zstd blocks (proxy stopped)

every command takes --dir DIR (default ./data/audit)
filters: --principal P --route R --method M --status N --decision D --reason R --request-id ID
times: RFC 3339 (2026-05-01T12:00:00Z), a date (2026-05-01), or a duration ago (15m)
`

// Main runs one audit command and returns its exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c := &cmd{name: args[0], stdout: stdout, stderr: stderr, now: time.Now}
	run, ok := map[string]func([]string) int{
		"tail": c.tail, "query": c.query, "stats": c.stats, "verify": c.verify,
		"prove": c.prove, "verify-proof": c.verifyProof, "export-tiles": c.exportTiles,
		"keygen": c.keygen, "repair": c.repair, "erase": c.erase, "prune": c.prune,
		"compact": c.compact,
	}[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "audit: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	return run(args[1:])
}

type cmd struct {
	name           string
	stdout, stderr io.Writer
	now            func() time.Time
	fs             *flag.FlagSet
	dir            string
	json           bool
	filter         filterFlags
}

type filterFlags struct {
	principal, route, method, decision, reason, requestID, since, until, from, pathPrefix string
	status, limit                                                                         int
}

func (c *cmd) flags(withFilter bool) *flag.FlagSet {
	fs := flag.NewFlagSet("audit "+c.name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&c.dir, "dir", DefaultDir, "log directory")
	if withFilter {
		f := &c.filter
		fs.StringVar(&f.principal, "principal", "", "match the principal")
		fs.StringVar(&f.route, "route", "", "match the route template")
		fs.StringVar(&f.method, "method", "", "match the method")
		fs.IntVar(&f.status, "status", 0, "match the status")
		fs.StringVar(&f.decision, "decision", "", "match the decision (allowed, denied, limited, …)")
		fs.StringVar(&f.reason, "reason", "", "match the reason code")
		fs.StringVar(&f.requestID, "request-id", "", "match the request id")
		fs.StringVar(&f.pathPrefix, "path-prefix", "", "match records whose path, or raw target as sent, starts with this")
		fs.StringVar(&f.since, "since", "", "only records that started at or after this time")
		fs.StringVar(&f.until, "until", "", "only records that started at or before this time")
		fs.BoolVar(&c.json, "json", false, "print NDJSON")
	}
	c.fs = fs
	return fs
}

// parse parses flags, allowing flags after positional arguments.
func (c *cmd) parse(args []string) ([]string, bool) {
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, false
			}
			return nil, false
		}
		args = c.fs.Args()
		if len(args) == 0 {
			return pos, true
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (c *cmd) usageErr(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "audit %s: "+format+"\n", append([]any{c.name}, args...)...)
	return exitUsage
}

func (c *cmd) fail(err error) int {
	fmt.Fprintf(c.stderr, "audit %s: %v\n", c.name, err)
	return exitFailed
}

// parseTime accepts RFC 3339, a date, a duration ago, or Unix seconds.
func (c *cmd) parseTime(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UnixNano(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.UnixNano(), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return c.now().Add(-d).UnixNano(), nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		return n * 1e9, nil
	}
	return 0, fmt.Errorf("cannot parse time %q: want RFC 3339, a date, a duration ago or Unix seconds", s)
}

func (c *cmd) buildFilter() (auditlog.Filter, error) {
	f := c.filter
	flt := auditlog.Filter{Principal: f.principal, Route: f.route, Method: f.method, Status: f.status,
		Decision: f.decision, Reason: f.reason, RequestID: f.requestID, PathPrefix: f.pathPrefix, Limit: f.limit}
	if f.decision != "" {
		if _, ok := auditlog.ParseDecision(f.decision); !ok {
			return flt, fmt.Errorf("unknown decision %q", f.decision)
		}
	}
	var err error
	if flt.Since, err = c.parseTime(f.since); err != nil {
		return flt, err
	}
	if flt.Until, err = c.parseTime(f.until); err != nil {
		return flt, err
	}
	if f.status < 0 || f.status > 999 {
		return flt, fmt.Errorf("bad status %d", f.status)
	}
	return flt, nil
}

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
	w := bufio.NewWriter(c.stdout)
	defer w.Flush()
	if c.json {
		fmt.Fprintf(w, `{"records":%d,"requests":%d,"decision":%s,"principal":%s,"route":%s}`+"\n",
			total, requests, jsonCounts(byDecision), jsonCounts(byPrincipal), jsonCounts(byRoute))
		return exitOK
	}
	fmt.Fprintf(w, "records: %d", total)
	if total > 0 {
		fmt.Fprintf(w, " (%s .. %s)", time.Unix(0, first).UTC().Format(time.RFC3339), time.Unix(0, last).UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "\nrequests: %d\n", requests)
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

// readKey reads a key given inline or as a file name.
func readKey(s string) (string, error) {
	if strings.Count(s, "+") >= 2 && !strings.ContainsAny(s, "/\\") || strings.HasPrefix(s, "PRIVATE+KEY+") {
		return strings.TrimSpace(s), nil
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return "", fmt.Errorf("cannot read key: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (c *cmd) verify(args []string) int {
	fs := c.flags(false)
	pub := fs.String("pub", "", "verifier key, inline or a file (pins the signer)")
	trusted := fs.String("trusted-checkpoint", "", "a checkpoint saved earlier: detects rollback and forks")
	quiet := fs.Bool("q", false, "no progress bar")
	pg := fs.String("pg", "", "verify the PostgreSQL database the proxies ship to (a URL) instead of --dir: every origin")
	var keys keyList
	fs.Var(&keys, "key", "with --pg, a verifier key, inline or a file of keys one per line; repeat for each origin")
	if _, ok := c.parse(args); !ok {
		return exitUsage
	}
	if *pg != "" {
		if *pub != "" {
			keys = append(keys, *pub)
		}
		return c.pgVerify(*pg, keys)
	}
	if len(keys) > 0 {
		return c.usageErr("--key needs --pg (use --pub for a log directory)")
	}
	opts := auditlog.VerifyOptions{Dir: c.dir}
	if *pub != "" {
		k, err := readKey(*pub)
		if err != nil {
			return c.usageErr("%v", err)
		}
		opts.VerifierKey = k
	}
	if *trusted != "" {
		b, err := os.ReadFile(*trusted)
		if err != nil {
			return c.usageErr("cannot read trusted checkpoint: %v", err)
		}
		opts.Trusted = b
	}
	if !*quiet && isTerminal(c.stderr) {
		// A bar redrawn with carriage returns is for a terminal; in a file
		// or a pipe it is noise.
		var lastPct = -1
		opts.Progress = func(done, total uint64) {
			if total < 100000 {
				return
			}
			pct := int(done * 100 / total)
			if pct != lastPct {
				lastPct = pct
				fmt.Fprintf(c.stderr, "\rverifying: [%-50s] %3d%% %d/%d", strings.Repeat("#", pct/2), pct, done, total)
				if done == total {
					fmt.Fprintln(c.stderr)
				}
			}
		}
	}
	start := c.now()
	res, err := auditlog.Verify(opts)
	if err != nil {
		if opts.Progress != nil {
			fmt.Fprintln(c.stderr) // end the bar's line
		}
		fmt.Fprintf(c.stderr, "FAIL: %v\n", err)
		return exitFailed
	}
	el := c.now().Sub(start)
	fmt.Fprintf(c.stdout, "OK: %d records in %d blocks, %d segments, %d checkpoints; latest size %d root %s (%.0f records/s)\n",
		res.Records, res.Blocks, res.Segments, res.Checkpoints, res.Latest.Size, res.Latest.Root, float64(res.Records)/max(el.Seconds(), 1e-9))
	if res.Pruned > 0 {
		fmt.Fprintf(c.stdout, "pruned: records before index %d were deleted by retention; %d older checkpoint roots could not be recomputed\n", res.Pruned, res.PrunedCheckpoints)
	}
	if !res.Signed {
		fmt.Fprintln(c.stdout, "WARNING: signatures not checked; pass --pub to pin the signing key")
	}
	return exitOK
}

func (c *cmd) prove(args []string) int {
	fs := c.flags(false)
	index := fs.String("index", "", "record index")
	reqID := fs.String("request-id", "", "request id")
	out := fs.String("o", "", "write the proof to this file (default stdout)")
	if _, ok := c.parse(args); !ok {
		return exitUsage
	}
	if (*index == "") == (*reqID == "") {
		return c.usageErr("give exactly one of --index and --request-id")
	}
	var proof []byte
	var err error
	if *index != "" {
		i, perr := strconv.ParseUint(*index, 10, 64)
		if perr != nil {
			return c.usageErr("bad --index %q", *index)
		}
		proof, err = auditlog.Prove(c.dir, i)
	} else {
		proof, err = auditlog.ProveRequestID(c.dir, *reqID)
	}
	if err != nil {
		return c.fail(err)
	}
	if *out == "" {
		c.stdout.Write(proof)
		return exitOK
	}
	if err := os.WriteFile(*out, proof, 0o644); err != nil {
		return c.fail(err)
	}
	return exitOK
}

func (c *cmd) verifyProof(args []string) int {
	fs := c.flags(false)
	pub := fs.String("pub", "", "verifier key, inline or a file (required)")
	pos, ok := c.parse(args)
	if !ok {
		return exitUsage
	}
	if *pub == "" || len(pos) != 1 {
		return c.usageErr("usage: verify-proof --pub KEY FILE")
	}
	k, err := readKey(*pub)
	if err != nil {
		return c.usageErr("%v", err)
	}
	b, err := os.ReadFile(pos[0])
	if err != nil {
		return c.fail(err)
	}
	res, err := auditlog.VerifyProof(k, b)
	if err != nil {
		fmt.Fprintf(c.stderr, "FAIL: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(c.stdout, "OK: record %d is in %s at size %d\n%s\n", res.Index, res.Checkpoint.Origin, res.Checkpoint.Size,
		res.Record.AppendJSON(nil, res.Index))
	return exitOK
}

func (c *cmd) exportTiles(args []string) int {
	c.flags(false)
	pos, ok := c.parse(args)
	if !ok {
		return exitUsage
	}
	if len(pos) != 1 {
		return c.usageErr("usage: export-tiles DIR")
	}
	res, err := auditlog.ExportTiles(c.dir, pos[0])
	if err != nil {
		return c.fail(err)
	}
	cp := res.Checkpoint
	fmt.Fprintf(c.stdout, "exported %d records at root %s to %s\n", cp.Size, cp.Root, pos[0])
	if res.FirstEntry > 0 {
		fmt.Fprintf(c.stdout, "retention pruned records before %d: their entry bundles and level-0 tiles are not in the export\n", res.FirstEntry)
	}
	return exitOK
}

func (c *cmd) keygen(args []string) int {
	fs := c.flags(false)
	origin := fs.String("origin", "", "log origin, e.g. audit.example.com/proxy-1 (required)")
	out := fs.String("out", "", "write PREFIX.key (mode 0400) and PREFIX.pub (required)")
	if _, ok := c.parse(args); !ok {
		return exitUsage
	}
	if *origin == "" || *out == "" {
		return c.usageErr("usage: keygen --origin NAME --out PREFIX")
	}
	skey, vkey, err := auditlog.GenerateKey(*origin)
	if err != nil {
		return c.usageErr("%v", err)
	}
	f, err := os.OpenFile(*out+".key", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o400)
	if err != nil {
		return c.fail(err)
	}
	_, err = fmt.Fprintln(f, skey)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.WriteFile(*out+".pub", []byte(vkey+"\n"), 0o644)
	}
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "wrote %s.key and %s.pub\nverifier key: %s\n", *out, *out, vkey)
	return exitOK
}

func (c *cmd) repair(args []string) int {
	fs := c.flags(false)
	key := fs.String("key", "", "signing key, inline or a file (required)")
	if _, ok := c.parse(args); !ok {
		return exitUsage
	}
	if *key == "" {
		return c.usageErr("usage: repair --key FILE")
	}
	k, err := readKey(*key)
	if err != nil {
		return c.usageErr("%v", err)
	}
	if err := auditlog.Repair(auditlog.Options{Dir: c.dir, SigningKey: k}); err != nil {
		return c.fail(err)
	}
	fmt.Fprintln(c.stdout, "repaired; run verify")
	return exitOK
}

func (c *cmd) erase(args []string) int {
	fs := c.flags(false)
	before := fs.String("before", "", "erase personal values of salt periods that ended before this time (required)")
	if _, ok := c.parse(args); !ok {
		return exitUsage
	}
	t, err := c.parseTime(*before)
	if err != nil || t == 0 {
		return c.usageErr("usage: erase --before TIME")
	}
	n, err := auditlog.EraseSalts(c.dir, t/1e9, int64(auditlog.DefaultSaltPeriod))
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "erased %d salt periods\n", n)
	return exitOK
}

func (c *cmd) prune(args []string) int {
	fs := c.flags(false)
	keep := fs.Int("keep-segments", 0, "keep this many newest segments (the active one included)")
	older := fs.Duration("older-than", 0, "delete sealed segments sealed longer ago than this")
	if _, ok := c.parse(args); !ok {
		return exitUsage
	}
	if *keep < 0 || *older < 0 || (*keep == 0) == (*older == 0) {
		return c.usageErr("usage: prune --keep-segments N | --older-than DUR")
	}
	res, err := auditlog.Prune(auditlog.PruneOptions{Dir: c.dir, KeepSegments: *keep, OlderThan: *older, Now: c.now})
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "pruned %d segments; the log keeps records from index %d\n", res.Segments, res.FirstRetained)
	return exitOK
}

func (c *cmd) compact(args []string) int {
	c.flags(false)
	pos, ok := c.parse(args)
	if !ok {
		return exitUsage
	}
	if len(pos) != 0 {
		return c.usageErr("usage: compact")
	}
	res, err := auditlog.Compact(c.dir)
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "compacted %d sealed segments: %d bytes to %d\n", res.Segments, res.Before, res.After)
	return exitOK
}

// isTerminal reports whether w is a terminal (a character device: a tty,
// or /dev/null, where a progress bar does no harm).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
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
