// Command gnetbench serves a Tollgate config with the gnet engine, for
// load tests beside the default engine (tollgate run) and other proxies.
// It is a measuring tool, not a product command: no admin listener, no
// reload. It stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tollgate-proxy/tollgate/engine"
	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/engine/gnetengine"
	"github.com/tollgate-proxy/tollgate/engine/pipeline"
	"github.com/tollgate-proxy/tollgate/filters/all"
)

func main() {
	cfgPath := flag.String("c", "", "config file")
	loops := flag.Int("loops", 0, "event loops per listener (0: one per CPU)")
	flag.Parse()
	if err := run(*cfgPath, *loops); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(path string, loops int) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rt, err := engine.Compile(cfg, all.Registry(), 1, nil, log)
	if err != nil {
		return err
	}
	var h engine.Holder
	h.Swap(rt)
	pipe, err := pipeline.New(pipeline.Options{Holder: &h, Log: log, Metrics: metrics.NewSet()})
	if err != nil {
		return err
	}
	s, err := gnetengine.New(gnetengine.Options{Pipeline: pipe, Listeners: cfg.Listeners, Log: log, EventLoops: loops})
	if err != nil {
		return err
	}
	if err := s.Start(); err != nil {
		return err
	}
	for _, a := range s.Addrs() {
		fmt.Println("listening", a)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = s.Shutdown(ctx)
	h.Close()
	return err
}
