package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// resultMarker starts the line the wrk script prints at the end of a run.
const resultMarker = "LOADBENCH_RESULT "

// wrkResult is one wrk run, as reported by the script's done() hook.
// Latencies are in microseconds, from wrk's own histogram.
type wrkResult struct {
	Requests      int64   `json:"requests"`
	DurationUS    int64   `json:"duration_us"`
	Bytes         int64   `json:"bytes"`
	ConnectErrors int64   `json:"connect_errors"`
	ReadErrors    int64   `json:"read_errors"`
	WriteErrors   int64   `json:"write_errors"`
	StatusErrors  int64   `json:"status_errors"`
	Timeouts      int64   `json:"timeouts"`
	P50           float64 `json:"p50_us"`
	P90           float64 `json:"p90_us"`
	P99           float64 `json:"p99_us"`
	P999          float64 `json:"p999_us"`
	Mean          float64 `json:"mean_us"`
	Max           float64 `json:"max_us"`
}

// RPS returns requests per second over the run.
func (r wrkResult) RPS() float64 {
	if r.DurationUS <= 0 {
		return 0
	}
	return float64(r.Requests) / (float64(r.DurationUS) / 1e6)
}

// Errors returns socket errors, timeouts and responses with status >= 400.
func (r wrkResult) Errors() int64 {
	return r.ConnectErrors + r.ReadErrors + r.WriteErrors + r.StatusErrors + r.Timeouts
}

// wrkScript returns the Lua script for req: it sets the method, headers and
// body, and prints one JSON result line from done(). Numbers go through
// %.0f, which works with both LuaJIT and PUC Lua.
func wrkScript(req request) (string, error) {
	var b strings.Builder
	method := req.Method
	if method == "" {
		method = "GET"
	}
	lit := func(s string) (string, error) {
		for _, c := range s {
			if c < 0x20 || c > 0x7e {
				return "", fmt.Errorf("cannot put %q in a wrk script: only printable ASCII is allowed", s)
			}
		}
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`, nil
	}
	m, err := lit(method)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "wrk.method = %s\n", m)
	for _, h := range req.Headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return "", fmt.Errorf("cannot use header %q: want \"Name: value\"", h)
		}
		n, err := lit(strings.TrimSpace(name))
		if err != nil {
			return "", err
		}
		v, err := lit(strings.TrimSpace(value))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "wrk.headers[%s] = %s\n", n, v)
	}
	if req.RotateHeader != "" && len(req.RotateValues) > 0 {
		n, err := lit(req.RotateHeader)
		if err != nil {
			return "", err
		}
		b.WriteString("local rotate = {\n")
		for _, val := range req.RotateValues {
			v, err := lit(val)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "  %s,\n", v)
		}
		fmt.Fprintf(&b, "}\nlocal turn = 0\nrequest = function()\n  turn = turn %% #rotate + 1\n  wrk.headers[%s] = rotate[turn]\n  return wrk.format()\nend\n", n)
	}
	if req.Body != "" {
		v, err := lit(req.Body)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "wrk.body = %s\n", v)
	}
	b.WriteString(`
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("` + resultMarker + `{\"requests\":%.0f,\"duration_us\":%.0f,\"bytes\":%.0f,\"connect_errors\":%.0f,\"read_errors\":%.0f,\"write_errors\":%.0f,\"status_errors\":%.0f,\"timeouts\":%.0f,\"p50_us\":%.0f,\"p90_us\":%.0f,\"p99_us\":%.0f,\"p999_us\":%.0f,\"mean_us\":%.1f,\"max_us\":%.0f}\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.mean, latency.max))
end
`)
	return b.String(), nil
}

// parseWrk finds the result line in wrk's output.
func parseWrk(out []byte) (wrkResult, error) {
	for line := range bytes.Lines(out) {
		rest, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte(resultMarker))
		if !ok {
			continue
		}
		var r wrkResult
		if err := json.Unmarshal(rest, &r); err != nil {
			return wrkResult{}, fmt.Errorf("cannot parse wrk result %q: %w", rest, err)
		}
		return r, nil
	}
	return wrkResult{}, errors.New("cannot find the result line in wrk's output")
}

// loadSpec is how hard and how long wrk drives a target.
type loadSpec struct {
	Wrk         string // wrk binary
	Threads     int
	Connections int
	Duration    time.Duration
	Timeout     time.Duration // per request
}

// runWrk drives url with the script at scriptPath for spec.Duration. The run
// is bounded: wrk is killed if it has not finished 30s after its duration.
func runWrk(ctx context.Context, spec loadSpec, scriptPath, url string, d time.Duration) (wrkResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	secs := max(1, int((d+time.Second/2)/time.Second))
	args := []string{
		"-t", strconv.Itoa(spec.Threads),
		"-c", strconv.Itoa(spec.Connections),
		"-d", strconv.Itoa(secs) + "s",
		"--timeout", strconv.Itoa(max(1, int(spec.Timeout/time.Second))) + "s",
		"-s", scriptPath,
		url,
	}
	cmd := exec.CommandContext(ctx, spec.Wrk, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return wrkResult{}, fmt.Errorf("cannot run %s %s: %w: %s", spec.Wrk, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()+stdout.String()))
	}
	return parseWrk(stdout.Bytes())
}

// writeScript writes req's wrk script into dir.
func writeScript(dir, name string, req request) (string, error) {
	s, err := wrkScript(req)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, name+".lua")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		return "", fmt.Errorf("cannot write wrk script: %w", err)
	}
	return p, nil
}
