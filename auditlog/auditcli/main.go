// Package auditcli is the bundled reader of the audit log: tail, query,
// stats, verify, prove, verify-proof, export-tiles, keygen, repair, erase,
// prune and compact. It works on a log directory without a running proxy;
// the proxy binary mounts it as "tollgate audit …".
package auditcli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
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
  stats [--since T] [--until T]                      counts by decision, principal and route; bytes on disk
  verify [--pub KEY] [--trusted-checkpoint FILE]     check the whole log offline
  verify --pg URL --key VKEY...                      check every shipped origin against its signed checkpoints
  prove --index N | --request-id ID [-o FILE]        write a C2SP tlog-proof
  verify-proof --pub KEY FILE                        check a proof with only the public key
  export-tiles DIR                                   write a C2SP tlog-tiles tree
  keygen --origin NAME --out PREFIX                  write PREFIX.key and PREFIX.pub
  repair --key FILE                                  truncate damage after operator consent
  erase --before TIME                                delete salts: erase personal values
  prune --keep-segments N | --older-than DUR         delete the oldest sealed segments (proxy stopped);
        [--ignore-copies]                            keeping what audit shipping has not copied, unless --ignore-copies
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
