package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/engine/explain"
)

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

const explainUsage = `usage: tollgate explain -c FILE METHOD PATH [--token T | --api-key K | --cert PEM | --role R ... [--scope S ...]] [--host H] [--format text|json]
       tollgate explain -c FILE --role R ... [--scope S ...]   (what the roles may do, route by route)
`

func explainCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, explainUsage); fs.PrintDefaults() }
	var opts explain.Options
	var roles, scopes list
	fs.StringVar(&opts.Path, "c", "configs/quickstart.yaml", "config file")
	fs.StringVar(&opts.Token, "token", "", "bearer token to present (verified with the configured keys)")
	fs.StringVar(&opts.APIKey, "api-key", "", "API key to present")
	fs.StringVar(&opts.CertFile, "cert", "", "PEM client certificate to present over TLS (leaf, then intermediates), verified by a listener's client_ca")
	fs.Var(&roles, "role", "without a credential: a role the stand-in principal carries (repeatable)")
	fs.Var(&scopes, "scope", "without a credential: an OAuth scope the stand-in principal holds (repeatable)")
	fs.StringVar(&opts.Host, "host", "", "Host header")
	format := fs.String("format", "text", "text or json")
	// Flags may come before and after METHOD PATH.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	opts.Roles, opts.Scopes = roles, scopes
	if *format != "text" && *format != "json" || len(pos) != 0 && len(pos) != 2 || len(pos) == 0 && len(roles) == 0 {
		fs.Usage()
		return 2
	}
	var err error
	if len(pos) == 0 {
		var l *explain.Listing
		if l, err = explain.List(opts); err == nil {
			err = l.Write(stdout, *format == "json")
		}
	} else {
		opts.Method, opts.Target = pos[0], pos[1]
		var r *explain.Result
		if r, err = explain.Run(opts); err == nil {
			err = r.Write(stdout, *format == "json")
		}
	}
	if err != nil {
		for _, e := range config.Leaves(err) {
			fmt.Fprintln(stderr, e)
		}
		return 1
	}
	return 0
}
