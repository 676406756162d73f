package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/tollgate-proxy/tollgate/engine/lint"
)

func checkCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "configs/quickstart.yaml", "config file")
	strict := fs.Bool("strict", false, "exit 1 on warnings too")
	format := fs.String("format", "text", "text (one line per finding, on stderr) or json (one JSON object per finding and line, on stdout)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "tollgate check: --format: want text or json, got %q\n", *format)
		return 2
	}
	rep := lint.Run(lint.Options{Path: *path})
	enc := json.NewEncoder(stdout)
	for _, f := range rep.Findings {
		if *format == "json" {
			_ = enc.Encode(f)
		} else {
			fmt.Fprintln(stderr, f)
		}
	}
	if rep.Errors() > 0 || *strict && rep.Warnings() > 0 {
		return 1
	}
	if *format == "text" {
		cfg := rep.Config
		fmt.Fprintf(stdout, "%s: ok (%d listeners, %d upstreams, %d routes, %d warnings)\n", *path, len(cfg.Listeners), len(cfg.Upstreams), rep.Routes, rep.Warnings())
	}
	return 0
}
