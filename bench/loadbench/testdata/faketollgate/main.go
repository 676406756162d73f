// Command faketollgate stands in for the tollgate binary in loadbench's
// tests: "demo-upstream" runs the real demo upstream, "run -c FILE" decodes
// FILE strictly into Tollgate's config types (so the harness's templates
// cannot drift from them) and forwards every request to the first upstream
// target, and "version" prints a fixed line.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/valyala/fasthttp"
	"go.yaml.in/yaml/v3"

	"github.com/tollgate-proxy/tollgate/bench/upstream"
	"github.com/tollgate-proxy/tollgate/engine/config"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: faketollgate demo-upstream|run|version")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "demo-upstream":
		os.Exit(upstream.Main(os.Args[2:], os.Stdout, os.Stderr))
	case "version":
		fmt.Println("tollgate test build")
	case "run":
		os.Exit(run(os.Args[2:]))
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}

func run(args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	file := fs.String("c", "", "config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	b, err := os.ReadFile(*file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var cfg config.Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		fmt.Fprintf(os.Stderr, "cannot decode %s: %v\n", *file, err)
		return 1
	}
	if len(cfg.Listeners) == 0 || len(cfg.Upstreams) == 0 || len(cfg.Upstreams[0].Targets) == 0 {
		fmt.Fprintln(os.Stderr, "config needs a listener and an upstream target")
		return 1
	}
	hc := &fasthttp.HostClient{Addr: cfg.Upstreams[0].Targets[0], MaxConns: 1024}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if err := hc.Do(&ctx.Request, &ctx.Response); err != nil {
			ctx.Error("bad gateway", fasthttp.StatusBadGateway)
		}
	}}
	if err := srv.ListenAndServe(cfg.Listeners[0].Listen); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
