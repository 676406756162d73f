package auditcli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/auditlog/pgship"
)

// keyList collects repeated --key flags.
type keyList []string

func (k *keyList) String() string     { return strings.Join(*k, ",") }
func (k *keyList) Set(v string) error { *k = append(*k, v); return nil }

// readKeys reads verifier keys given inline or as files of one key per line.
func readKeys(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if strings.Count(a, "+") >= 2 && !strings.ContainsAny(a, "/\\\n") {
			out = append(out, strings.TrimSpace(a))
			continue
		}
		b, err := os.ReadFile(a)
		if err != nil {
			return nil, fmt.Errorf("cannot read key: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				out = append(out, line)
			}
		}
	}
	return out, nil
}

func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt)
}

// pgQuery is query across every origin shipped to PostgreSQL: the same
// filters and columns as the local query, with the origin first.
func (c *cmd) pgQuery(url, origin string, flt *auditlog.Filter) int {
	ctx, cancel := interruptible()
	defer cancel()
	p := newPrinter(c.stdout, c.json)
	p.origins = true
	err := pgship.Query(ctx, url, origin, flt, func(origin string, idx uint64, rec *auditlog.Record) error {
		p.recordOf(origin, idx, rec)
		return nil
	})
	p.flush()
	if err != nil {
		return c.fail(err)
	}
	return exitOK
}

// pgVerify checks every origin shipped to PostgreSQL against its signed
// checkpoints and prints every problem found.
func (c *cmd) pgVerify(url string, args []string) int {
	keys, err := readKeys(args)
	if err != nil {
		return c.usageErr("%v", err)
	}
	if len(keys) == 0 {
		return c.usageErr("--pg needs a verifier key per origin: --key VKEY")
	}
	ctx, cancel := interruptible()
	defer cancel()
	res, err := pgship.Verify(ctx, url, keys)
	if err != nil {
		return c.fail(err)
	}
	for _, p := range res.Problems {
		fmt.Fprintf(c.stderr, "FAIL: %s\n", p)
	}
	for _, o := range res.Origins {
		fmt.Fprintf(c.stdout, "origin %s: %d records, %d checkpoints; latest size %d root %s", o.Origin, o.Records, o.Checkpoints, o.Latest.Size, o.Latest.Root)
		if o.Unsigned > 0 {
			fmt.Fprintf(c.stdout, "; %d records past the last checkpoint, not yet signed", o.Unsigned)
		}
		fmt.Fprintln(c.stdout)
	}
	if len(res.Problems) > 0 {
		fmt.Fprintf(c.stderr, "FAIL: %d problems in the shipped audit logs\n", len(res.Problems))
		return exitFailed
	}
	if len(res.Origins) == 0 {
		fmt.Fprintln(c.stderr, "FAIL: the database holds no audit records")
		return exitFailed
	}
	fmt.Fprintf(c.stdout, "OK: %d origins verified\n", len(res.Origins))
	return exitOK
}
