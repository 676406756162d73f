package proxy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

// TestRunCluster runs scripts/run-cluster.sh (make run-cluster) as a user
// would, on free ports: it must start Redis, PostgreSQL, the demo upstream
// and three instances; the lines it prints must work as printed — one rate
// limit for all three instances, every instance's records in PostgreSQL,
// verified there — and Ctrl-C must stop everything it started.
func TestRunCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis, PostgreSQL and four processes")
	}
	var missing []string
	for _, tool := range []string{"bash", "curl", "redis-server", "redis-cli"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(m) == 0 {
		if _, err := exec.LookPath("initdb"); err != nil {
			missing = append(missing, "postgresql")
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("make run-cluster needs %v, which are not installed", missing)
		if os.Getenv("CI") != "" {
			t.Fatal(msg + ": CI must run it (.ci/run installs them)")
		}
		t.Skip(msg)
	}
	bin := buildTollgate(t)
	ports := freePorts(t, 9)
	// Under a directory every user may traverse: as root, the script runs
	// PostgreSQL as the postgres user, which must reach its data there
	// (t.TempDir's parent is private to root).
	root, err := os.MkdirTemp("", "tollgate-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(root, "cluster")
	cmd := exec.Command("bash", "scripts/run-cluster.sh", bin)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(),
		"TOLLGATE_CLUSTER_DATA="+data,
		fmt.Sprintf("TOLLGATE_CLUSTER_PORTS=%d %d %d", ports[0], ports[1], ports[2]),
		fmt.Sprintf("TOLLGATE_CLUSTER_ADMIN_PORTS=%d %d %d", ports[3], ports[4], ports[5]),
		fmt.Sprintf("TOLLGATE_CLUSTER_UPSTREAM=127.0.0.1:%d", ports[6]),
		fmt.Sprintf("TOLLGATE_CLUSTER_REDIS_PORT=%d", ports[7]),
		fmt.Sprintf("TOLLGATE_CLUSTER_PG_PORT=%d", ports[8]),
	)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
			}
		}
	}()

	// The banner, up to "Press Ctrl-C".
	var banner []string
	deadline := time.After(90 * time.Second)
read:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("run-cluster exited before it was ready:\n%s\n%s", strings.Join(banner, "\n"), stderr.String())
			}
			banner = append(banner, l)
			if strings.HasPrefix(l, "Press Ctrl-C") {
				break read
			}
		case <-deadline:
			t.Fatalf("run-cluster printed no banner in 90s:\n%s\n%s", strings.Join(banner, "\n"), stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	var try []string
	for i, l := range banner {
		if l == "Try:" {
			try = banner[i+1 : len(banner)-1]
		}
	}
	if len(try) != 4 {
		t.Fatalf("want 4 lines under Try:, got %q", try)
	}
	run := func(line string) string {
		t.Helper()
		line, _, _ = strings.Cut(line, "   #")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "bash", "-c", strings.TrimSpace(line)).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
		return string(out)
	}

	// One limit for the whole cluster: 27 lookups by one principal spread
	// over the three instances admit the burst of 20, plus what the rate
	// (10/s) refills while they run, and refuse the rest.
	start := time.Now()
	codes := strings.Fields(run(try[0]))
	elapsed := time.Since(start)
	ok, limited := 0, 0
	for _, c := range codes {
		switch c {
		case "200":
			ok++
		case "429":
			limited++
		default:
			t.Fatalf("unexpected status %s in %v", c, codes)
		}
	}
	if max := 20 + int(elapsed.Seconds()*10) + 1; len(codes) != 27 || ok < 20 || ok > max {
		t.Fatalf("27 lookups over three instances: %d allowed, %d limited (want 20..%d allowed, the rest 429): one limit must hold for the cluster", ok, limited, max)
	}
	if out := run(try[1]); !strings.Contains(out, "HTTP/1.1 201") {
		t.Fatalf("order: %s", out)
	}

	// Every instance ships to PostgreSQL: the database soon holds all 28
	// requests from three origins, and they verify against each origin's
	// signed checkpoints.
	var out string
	for end := time.Now().Add(20 * time.Second); ; {
		out = run(strings.Replace(try[2], "--limit 20", "--limit 0", 1))
		if n := strings.Count(out, "tollgate.cluster/node"); n >= 28 || time.Now().After(end) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i := 1; i <= 3; i++ {
		if !strings.Contains(out, fmt.Sprintf("tollgate.cluster/node%d ", i)) {
			t.Fatalf("audit query --pg has no record of node%d:\n%s", i, out)
		}
	}
	if n := strings.Count(out, "tollgate.cluster/node"); n != 28 {
		t.Fatalf("audit query --pg found %d records, want 28:\n%s", n, out)
	}
	if out := run(try[3]); !regexp.MustCompile(`OK: 3 origins verified`).MatchString(out) {
		t.Fatalf("audit verify --pg:\n%s", out)
	}

	// Every instance's dashboard shows the whole cluster from the same
	// database: 28 requests from three origins.
	for _, admin := range ports[3:6] {
		url := fmt.Sprintf("http://127.0.0.1:%d/api/cluster?window=15m", admin)
		var c clusterAnswer
		waitFor(t, url+" to count the 28 requests of three origins", 10*time.Second, func() bool {
			r := e2etest.Do(t, "GET", url, nil, "")
			c = clusterAnswer{}
			return r.Status == 200 && json.Unmarshal([]byte(r.Body), &c) == nil && c.Totals.Requests == 28 && len(c.Origins) == 3
		})
		if c.Totals.Classes["2xx"]+c.Totals.Classes["4xx"] != 28 || c.Totals.Limited != c.Totals.Classes["4xx"] {
			t.Errorf("%s: %+v; want every request 2xx or 429, the 429s counted as limited", url, c.Totals)
		}
	}

	// The README's --pg lines, as printed, against this cluster's
	// database: its example instances edge-1 and edge-2 stand for the
	// cluster's nodes.
	pgURL := regexp.MustCompile(`postgres://\S+sslmode=disable`).FindString(strings.Join(banner, "\n"))
	if pgURL == "" {
		t.Fatalf("the banner names no PostgreSQL URL:\n%s", strings.Join(banner, "\n"))
	}
	pub := func(i int) string { return filepath.Join(data, fmt.Sprintf("node%d", i), "audit.pub") }
	for _, line := range readmePGLines(t) {
		line = strings.NewReplacer(
			"bin/tollgate ", bin+" ",
			"audit.example.com/edge-1", "tollgate.cluster/node1",
			"--key edge-1.pub --key edge-2.pub", "--key "+pub(1)+" --key "+pub(2)+" --key "+pub(3),
		).Replace(line)
		out := run("export PG_URL='" + pgURL + "'; " + line)
		switch {
		case strings.Contains(line, "--json"):
			if n := strings.Count(out, `"origin":"tollgate.cluster/node1"`); n == 0 || n != strings.Count(out, `"origin":`) {
				t.Fatalf("%s: want node1's records only:\n%s", line, out)
			}
		case strings.Contains(line, "audit verify"):
			if !strings.Contains(out, "OK: 3 origins verified") {
				t.Fatalf("%s:\n%s", line, out)
			}
		}
	}

	// Ctrl-C stops everything it started and keeps the data.
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		stopped = true
	case <-time.After(30 * time.Second):
		t.Fatal("run-cluster did not stop within 30s of Ctrl-C")
	}
	for _, p := range ports {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), time.Second); err == nil {
			c.Close()
			t.Errorf("127.0.0.1:%d still answers after Ctrl-C", p)
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("127.0.0.1:%d: %v", p, err)
		}
	}
	for _, keep := range []string{"node1/audit", "node3/audit.pub", "redis"} {
		if _, err := os.Stat(filepath.Join(data, keep)); err != nil {
			t.Errorf("the data must stay after Ctrl-C: %v", err)
		}
	}
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// TestClusterConfigIsTheQuickstart holds configs/cluster.yaml to the
// quickstart's routes, keys, roles and limits: after the changes a cluster
// needs (addresses from the environment, a log per instance shipped to
// PostgreSQL, the limit counted in Redis) the two files must say the same.
func TestClusterConfigIsTheQuickstart(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile("../../configs/" + name)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		return s[strings.Index(s, "\nadmin:"):] // the header comments differ
	}
	quick, cluster := read("quickstart.yaml"), read("cluster.yaml")
	for _, c := range []struct{ quickstart, cluster string }{
		{"  listen: 127.0.0.1:9901", "  listen: ${TOLLGATE_ADMIN:-127.0.0.1:9911}"},
		{"    listen: 127.0.0.1:8080", "    listen: ${TOLLGATE_LISTEN:-127.0.0.1:8081}"},
		{"    targets: [127.0.0.1:9000]", `    targets: ["${TOLLGATE_UPSTREAM:-127.0.0.1:9000}"]`},
		{"# The audit log. `make run` creates the development signing key on first\n# start (bin/tollgate audit keygen); keep a production key off the repo.\naudit:\n  dir: data/audit\n  signing_key_file: data/audit-dev.key\n",
			"# Each instance's own audit log and signing key (`make run-cluster` makes a\n# key per instance, origin tollgate.cluster/nodeN), shipped to PostgreSQL\n# exactly once per record.\naudit:\n  dir: ${TOLLGATE_NODE_DIR:-data/cluster/node1}/audit\n  signing_key_file: ${TOLLGATE_NODE_DIR:-data/cluster/node1}/audit.key\n  ship:\n    postgres:\n      url: ${TOLLGATE_PG_URL:-postgres://tollgate@127.0.0.1:5441/tollgate}\n"},
		{"    # Ten lookups a second per principal (burst 20); the 21st in a burst\n    # gets 429 with Retry-After and RateLimit headers.\n",
			"    # Ten lookups a second per principal (burst 20) across the whole\n    # cluster: counted in Redis, one round trip per request, so the 21st\n    # request of a burst gets 429 whichever instance it reaches. If Redis\n    # is down each instance falls back to its own limiter.\n"},
		{"          policies: [{name: per-principal, rate: 10, per: 1s, burst: 20, key: [principal]}]\n",
			"          redis:\n            addresses: [\"${TOLLGATE_REDIS:-127.0.0.1:6391}\"]\n            key_prefix: tollgate:cluster\n          policies:\n            - {name: per-principal, rate: 10, per: 1s, burst: 20, key: [principal], store: redis, mode: exact, on_store_error: local}\n"},
	} {
		if !strings.Contains(quick, c.quickstart) {
			t.Fatalf("configs/quickstart.yaml no longer has %q: update this test and configs/cluster.yaml together", c.quickstart)
		}
		quick = strings.Replace(quick, c.quickstart, c.cluster, 1)
	}
	if quick != cluster {
		t.Fatalf("configs/cluster.yaml must be the quickstart with the cluster's changes; it differs:\nwant:\n%s\ngot:\n%s", quick, cluster)
	}
}

// readmePGLines returns the commands of README.md's sh block that reads the
// PostgreSQL copy (audit query --pg, audit verify --pg).
func readmePGLines(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	inSh := false
	for _, l := range strings.Split(string(raw), "\n") {
		switch {
		case strings.HasPrefix(l, "```"):
			inSh = !inSh && strings.TrimPrefix(l, "```") == "sh"
		case inSh && strings.HasPrefix(l, "bin/tollgate audit ") && strings.Contains(l, "--pg"):
			lines = append(lines, l)
		}
	}
	if len(lines) < 3 {
		t.Fatalf("README.md's sh blocks have %d audit --pg lines, want the query, query --origin --json and verify examples", len(lines))
	}
	return lines
}
