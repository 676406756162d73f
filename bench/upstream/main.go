package upstream

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
)

// DefaultListen is the address Main listens on without --listen.
const DefaultListen = "127.0.0.1:9000"

// Main runs the demo upstream as a command: it parses args (--listen ADDR,
// default 127.0.0.1:9000), prints the address it serves on to stdout, and
// serves until SIGINT or SIGTERM. It returns the process exit code: 0 after
// a clean shutdown, 1 on failure, 2 on bad usage.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, stdout, stderr)
}

// run is Main with the stop signal given as ctx.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo-upstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", DefaultListen, "address to listen on")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: tollgate demo-upstream [--listen ADDR]\n\n"+
			"Serves the demo JSON API used by the quickstart, the tests and the benchmarks.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "demo-upstream: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "demo-upstream: cannot listen on %q: %v\n", *listen, err)
		return 1
	}
	srv := New(Options{ErrorLog: stderr})
	fmt.Fprintf(stdout, "demo upstream listening on http://%s\n", ln.Addr())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	code := 0
	select {
	case <-ctx.Done():
	case err := <-served:
		// Serve returns before Shutdown only on failure.
		if err == nil {
			err = errors.New("listener closed")
		}
		fmt.Fprintf(stderr, "demo-upstream: %v\n", err)
		code = 1
	}
	if err := srv.Shutdown(); err != nil {
		fmt.Fprintf(stderr, "demo-upstream: %v\n", err)
		code = 1
	}
	return code
}
