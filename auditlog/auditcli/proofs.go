package auditcli

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/tollgate-proxy/tollgate/auditlog"
)

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
