// Command tollgate is the Tollgate secure API access proxy: one binary for
// the proxy, its config checker, the bundled audit-log reader and a demo
// upstream for the quickstart and benchmarks.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `usage: tollgate <command> [flags]

commands:
  run -c FILE              start the proxy
  check -c FILE            validate a config file; exit 1 with every error
  audit <subcommand>       read, query, verify and prove the audit log
                           (tail, query, stats, verify, prove, verify-proof,
                           export-tiles, keygen, repair; 'tollgate audit' lists them)
  keygen --out PREFIX      write a JWT signing key (RS256, ES256, EdDSA) and its JWKS
  token --sub S [flags]    print a signed JWT for development (quickstart key by default)
  demo-upstream [--listen] serve the bundled demo JSON API
  version                  print the version

run 'tollgate <command> -h' for a command's flags.
`

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return runCmd(rest, stdout, stderr)
	case "check":
		return checkCmd(rest, stdout, stderr)
	case "explain":
		return explainCmd(rest, stdout, stderr)
	case "audit":
		return auditCmd(rest, stdout, stderr)
	case "keygen":
		return keygenCmd(rest, stdout, stderr)
	case "token":
		return tokenCmd(rest, stdout, stderr)
	case "demo-upstream":
		return demoUpstreamCmd(rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "tollgate", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "tollgate: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}
