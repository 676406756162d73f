package main

import (
	"io"

	"github.com/tollgate-proxy/tollgate/auditlog/auditcli"
)

// auditCmd is the bundled reader: it works on a log directory without a
// running proxy.
func auditCmd(args []string, stdout, stderr io.Writer) int {
	return auditcli.Main(args, stdout, stderr)
}
