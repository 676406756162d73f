package auditcli

import (
	"fmt"
	"os"

	"github.com/tollgate-proxy/tollgate/auditlog"
)

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
	ignore := fs.Bool("ignore-copies", false, "delete them even where a copy of the log (audit shipping) lacks the records")
	if _, ok := c.parse(args); !ok {
		return exitUsage
	}
	if *keep < 0 || *older < 0 || (*keep == 0) == (*older == 0) {
		return c.usageErr("usage: prune --keep-segments N | --older-than DUR [--ignore-copies]")
	}
	res, err := auditlog.Prune(auditlog.PruneOptions{Dir: c.dir, KeepSegments: *keep, OlderThan: *older, Now: c.now, IgnoreCopies: *ignore})
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "pruned %d segments; the log keeps records from index %d\n", res.Segments, res.FirstRetained)
	if res.Held > 0 {
		fmt.Fprintf(c.stdout, "kept %d more segments: the copy %s lacks the records from index %d (--ignore-copies deletes them anyway)\n", res.Held, res.HeldFor, res.HeldFrom)
	}
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
