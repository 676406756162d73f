// Package testpg starts a real, throw-away PostgreSQL server for tests and
// the load harness: initdb in a temporary directory, postgres listening on
// 127.0.0.1 on a free port with trust authentication on loopback and fsync
// off, stopped by its PID.
//
// It exists because the audit shipper's guarantees (exactly once per
// record across a database restart, resumption from what the database
// holds) are claims about a real server, which a mock cannot back. The
// binaries come from the Debian package (/usr/lib/postgresql/*/bin) or
// PATH. PostgreSQL refuses to run as root, so under uid 0 (CI) initdb and
// postgres run as the "postgres" system user, in a directory made under
// the system temporary directory (t.TempDir's parents may not be
// traversable by that user) and handed to it.
package testpg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoPostgres reports that the PostgreSQL server binaries are not installed.
var ErrNoPostgres = errors.New("testpg: postgresql binaries (initdb, postgres) not found in /usr/lib/postgresql/*/bin or PATH")

// Server is one running PostgreSQL. Stop and Start may be called again to
// take it down and bring it back on the same port and data.
type Server struct {
	bin  string // directory of initdb and postgres
	root string // temporary directory holding data and socket
	data string
	port int
	cred *syscall.Credential
	cmd  *exec.Cmd
	done chan struct{}
	logf *os.File
}

// findBin returns the directory holding initdb and postgres, the newest
// Debian version first.
func findBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// Start creates a cluster and starts it. Call Close to stop it and remove
// its files.
func Start() (*Server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	if os.Getuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("cannot run postgresql as root and there is no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if s.root, err = os.MkdirTemp("", "tollgate-pg-"); err != nil {
		return nil, fmt.Errorf("cannot make postgresql directory: %w", err)
	}
	s.data = filepath.Join(s.root, "data")
	if err := os.Chmod(s.root, 0o755); err != nil {
		s.Close()
		return nil, fmt.Errorf("cannot make postgresql directory: %w", err)
	}
	if s.cred != nil {
		if err := os.Chown(s.root, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			s.Close()
			return nil, fmt.Errorf("cannot hand postgresql directory to the postgres user: %w", err)
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", s.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--locale=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	initdb.Dir = s.root
	if out, err := initdb.CombinedOutput(); err != nil {
		s.Close()
		return nil, fmt.Errorf("cannot initdb: %w\n%s", err, out)
	}
	if s.port, err = freePort(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.StartAgain(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("cannot find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartAgain starts the server on its data directory and port (after
// Stop) and waits until it accepts connections.
func (s *Server) StartAgain() error {
	if s.cmd != nil {
		return errors.New("testpg: already running")
	}
	logf, err := os.OpenFile(filepath.Join(s.root, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("cannot open postgresql log: %w", err)
	}
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), "-D", s.data,
		"-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "-k", s.root,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=50", "-c", "shared_buffers=32MB")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("cannot start postgres: %w", err)
	}
	s.cmd, s.logf, s.done = cmd, logf, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(s.done)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, s.URL())
		if err == nil {
			_ = c.Close(ctx)
			cancel()
			return nil
		}
		cancel()
		select {
		case <-s.done:
			s.cmd = nil
			s.logf.Close()
			return fmt.Errorf("postgres exited at startup: %s", s.tailLog())
		default:
		}
		if time.Now().After(deadline) {
			_ = s.Stop()
			return fmt.Errorf("postgres did not accept connections within 30s: %v\n%s", err, s.tailLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) tailLog() string {
	b, _ := os.ReadFile(filepath.Join(s.root, "postgres.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// Stop shuts the server down by its PID (SIGINT: fast shutdown, open
// connections are closed) and waits for it to exit.
func (s *Server) Stop() error {
	if s.cmd == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
	return s.logf.Close()
}

// Kill stops the server with SIGKILL, as a crash would: no shutdown
// checkpoint, connections dropped mid-transaction.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
	s.logf.Close()
}

// PID returns the postmaster's process id, 0 when stopped.
func (s *Server) PID() int {
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// URL returns the connection URL of the "postgres" database.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Close stops the server and removes its files.
func (s *Server) Close() error {
	err := s.Stop()
	if s.root != "" {
		if rerr := os.RemoveAll(s.root); err == nil {
			err = rerr
		}
	}
	return err
}

// New starts a server for t and stops it when t ends. Without the
// binaries it skips t, loudly, or fails it when the CI environment
// variable is set: CI installs PostgreSQL, so a missing server there is a
// broken setup rather than a reason to skip.
func New(t testing.TB) *Server {
	t.Helper()
	s, err := Start()
	if err != nil {
		if errors.Is(err, ErrNoPostgres) && os.Getenv("CI") == "" {
			t.Skipf("SKIPPED: no PostgreSQL server here (%v); install the postgresql package to run this test", err)
		}
		t.Fatalf("cannot start postgresql: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("cannot stop postgresql: %v", err)
		}
	})
	return s
}
