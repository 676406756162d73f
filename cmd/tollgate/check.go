package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/tollgate-proxy/tollgate/engine/proxy"
)

func checkCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "configs/quickstart.yaml", "config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, rt, err := proxy.Load(*path, nil)
	if err != nil {
		for _, e := range flatten(err) {
			fmt.Fprintln(stderr, e)
		}
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok (%d listeners, %d upstreams, %d routes)\n", *path, len(cfg.Listeners), len(cfg.Upstreams), len(rt.Routes))
	return 0
}

// flatten lists the leaves of a tree of joined errors, one per line.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	if err == nil {
		return nil
	}
	return []error{err}
}
