package main

import (
	"io"

	"github.com/tollgate-proxy/tollgate/bench/upstream"
)

func demoUpstreamCmd(args []string, stdout, stderr io.Writer) int {
	return upstream.Main(args, stdout, stderr)
}
