// Package testredis starts real redis-server processes for tests: on free
// loopback ports, in the test's temporary directory, without persistence,
// and stopped by PID when the test ends.
//
// Why real servers: the rate-limit store's correctness is a Lua script's
// atomicity, a client's reconnects and Cluster's slot routing; a fake
// would test none of them. When redis-server is not installed a test is
// skipped, loudly; with the CI environment variable set it fails instead,
// so CI can never pass by skipping.
package testredis

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Server is one redis-server process.
type Server struct {
	t    testing.TB
	Addr string // 127.0.0.1:port
	Port int
	dir  string
	args []string
	cli  []string // redis-cli arguments besides host and port (auth, TLS)
	cmd  *exec.Cmd
	done chan error // the Wait of cmd
}

// Options are extra settings for StartWith.
type Options struct {
	// Conf, if set, is written to redis.conf in the server's directory and
	// given as the config file (Sentinel needs a writable one).
	Conf string
	// Args are extra redis-server arguments; "{port}" in any of them, and
	// in Conf, is replaced by the server's port.
	Args []string
	// CLI are extra redis-cli arguments (-a, --user, --tls, --cacert) for
	// the readiness PING and CLI.
	CLI []string
	// TLS serves TLS on the port (the arguments must name the
	// certificates); the plain port is closed.
	TLS bool
}

// Need skips t, or fails it when CI is set, unless redis-server and
// redis-cli are on PATH.
func Need(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			msg := fmt.Sprintf("SKIPPING: %s not found (apt-get install redis-server redis-tools): %v", bin, err)
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// Start runs a redis-server on a free loopback port with extra arguments
// (such as "--cluster-enabled", "yes") and waits until it answers PING.
// It is stopped when the test ends.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	return StartWith(t, Options{Args: extra})
}

// StartWith is Start with a config file, redis-cli arguments or TLS.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	Need(t)
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("cannot find a free port: %v", err)
		}
		dir := filepath.Join(t.TempDir(), "redis-"+strconv.Itoa(port))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		p := strconv.Itoa(port)
		var args []string
		if o.Conf != "" {
			conf := filepath.Join(dir, "redis.conf")
			if err := os.WriteFile(conf, []byte(strings.ReplaceAll(o.Conf, "{port}", p)), 0o600); err != nil {
				t.Fatal(err)
			}
			args = append(args, conf)
		}
		if o.TLS {
			args = append(args, "--port", "0", "--tls-port", p)
		} else {
			args = append(args, "--port", p)
		}
		args = append(args, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning",
			"--logfile", filepath.Join(dir, "redis.log"))
		for _, a := range o.Args {
			args = append(args, strings.ReplaceAll(a, "{port}", p))
		}
		s := &Server{t: t, Addr: "127.0.0.1:" + p, Port: port, dir: dir, args: args, cli: o.CLI}
		if lastErr = s.start(); lastErr == nil {
			t.Cleanup(s.Kill)
			return s
		}
	}
	t.Fatalf("cannot start redis-server: %v", lastErr)
	return nil
}

func (s *Server) start() error {
	s.cmd = exec.Command("redis-server", s.args...)
	if err := s.cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	cmd := s.cmd
	go func() { done <- cmd.Wait() }() // ends when the process does
	s.done = done
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			return fmt.Errorf("redis-server exited: %v\n%s", err, log)
		default:
		}
		if out, err := s.CLI("PING"); err == nil && strings.TrimSpace(out) == "PONG" {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = s.cmd.Process.Kill()
	<-done
	return fmt.Errorf("redis-server on %s did not answer PING", s.Addr)
}

// PID returns the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Kill stops the server with SIGKILL by PID, as a crash would, and waits
// until its port is closed.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(s.PID(), syscall.SIGKILL)
	<-s.done
	for i := 0; i < 200; i++ { // bounded: 2s
		c, err := net.DialTimeout("tcp", s.Addr, 50*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	s.cmd = nil
}

// Restart starts the server again on the same port and directory.
func (s *Server) Restart() {
	s.t.Helper()
	var err error
	for i := 0; i < 50; i++ { // the port may linger for a moment
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("cannot restart redis-server on %s: %v", s.Addr, err)
}

// CLI runs redis-cli against the server and returns its output.
func (s *Server) CLI(args ...string) (string, error) {
	a := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "--no-auth-warning"}, s.cli...)
	cmd := exec.Command("redis-cli", append(a, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Cluster is a Redis Cluster of n masters, no replicas.
type Cluster struct {
	Nodes []*Server
}

// Addrs returns the nodes' addresses.
func (c *Cluster) Addrs() []string {
	a := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		a[i] = n.Addr
	}
	return a
}

// StartCluster starts n cluster-enabled servers and joins them with
// redis-cli --cluster create, then waits until the cluster is ok.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{}
	for i := 0; i < n; i++ {
		c.Nodes = append(c.Nodes, Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for i := 0; i < 250; i++ { // bounded: 5s
		ok := true
		for _, node := range c.Nodes {
			info, err := node.CLI("CLUSTER", "INFO")
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				ok = false
			}
		}
		if ok {
			return c
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("redis cluster did not become ok")
	return nil
}

// Keys returns the keys matching pattern on s (KEYS, for tests).
func (s *Server) Keys(pattern string) []string {
	out, err := s.CLI("--raw", "KEYS", pattern)
	if err != nil {
		s.t.Fatalf("redis-cli KEYS: %v", err)
	}
	var keys []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			keys = append(keys, l)
		}
	}
	return keys
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
