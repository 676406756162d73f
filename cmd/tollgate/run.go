package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/tollgate-proxy/tollgate/engine/proxy"
)

type runOptions struct {
	config       string
	engine       string
	drainTimeout time.Duration
}

func runCmd(args []string, stdout, stderr io.Writer) int {
	var o runOptions
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.config, "c", "configs/quickstart.yaml", "config file")
	fs.StringVar(&o.engine, "engine", "", "serve every listener with this engine: gnet (the event loop) or fasthttp (a goroutine per connection); by default each listener's engine setting decides (auto: gnet for plain HTTP, fasthttp for TLS)")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 30*time.Second, "how long to wait for in-flight requests on shutdown")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch o.engine {
	case "", "auto", "gnet", "fasthttp":
	default:
		fmt.Fprintf(stderr, "tollgate: unknown --engine %q: want gnet, fasthttp or auto\n", o.engine)
		return 2
	}
	p, err := proxy.Start(proxy.Options{ConfigPath: o.config, LogOutput: stderr, Engine: o.engine})
	if err != nil {
		fmt.Fprintf(stderr, "tollgate: %v\n", err)
		return 1
	}
	log := p.Logger()
	_, set := os.LookupEnv("GOMAXPROCS")
	loops, procs := p.EventLoops(), runtime.GOMAXPROCS(0)
	if n := spareProcs(loops, procs, set); n != procs {
		runtime.GOMAXPROCS(n) // see procs.go
		procs = n
	}
	log.Info("tollgate started", "config", o.config, "version", version,
		"event_loops", loops, "gomaxprocs", procs)

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			_ = p.Reload() // logged; the running config is kept on failure
			continue
		}
		log.Info("shutting down: draining in-flight requests", "signal", sig.String(), "timeout", o.drainTimeout)
		ctx, cancel := context.WithTimeout(context.Background(), o.drainTimeout)
		err := p.Shutdown(ctx)
		cancel()
		if err != nil {
			log.Error("shutdown did not complete cleanly", "err", err)
			return 1
		}
		log.Info("stopped")
		return 0
	}
	return 0
}
