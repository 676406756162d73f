package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a process group gets between SIGTERM and SIGKILL.
const stopGrace = 5 * time.Second

// proc is a started process and its process group.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	exited  chan struct{}
	waitErr error
	stopped bool
}

// startProc starts bin with args in its own process group, with stdout and
// stderr appended to DIR/NAME.log. The caller must call stop.
func startProc(name, dir string, extraEnv []string, bin string, args ...string) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot create log of %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = append(os.Environ(), extraEnv...)
	// Own process group: stop signals the whole tree (nginx workers too).
	// Pdeathsig: if loadbench is killed, the direct child goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("cannot start %s (%s): %w", name, bin, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, logFile: lf, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// pid returns the process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// running reports whether the process has not exited yet.
func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after stopGrace.
// It is safe to call more than once: later calls do nothing, so they cannot
// signal a new group that reused the pid.
func (p *proc) stop() {
	if p.stopped {
		return
	}
	p.stopped = true
	pgid := p.pid() // Setpgid makes the group id the leader's pid
	if p.running() {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(stopGrace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.exited
		}
	}
	// Children that outlived their leader (or ignored SIGTERM) go too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	p.logFile.Close()
}

// logTail returns the last n lines of the process's log, for error messages.
func (p *proc) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePort returns a free 127.0.0.1 TCP address. The port is released
// before it is used, so another process could take it in between; the
// readiness check then fails loudly rather than measuring the wrong thing.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("cannot find a free port: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// procStat is what loadbench reads of one process in /proc.
type procStat struct {
	ppid  int
	ticks uint64 // utime + stime, in clock ticks
}

// parseStat parses the content of /proc/PID/stat (proc(5)). The command
// name is in parentheses and may hold spaces or parentheses, so fields are
// counted from the last ')'.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("%d fields, want at least 15", len(f)+2)
	}
	ppid, err1 := strconv.Atoi(f[1])
	ut, err2 := strconv.ParseUint(f[11], 10, 64)
	st, err3 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return procStat{}, err
	}
	return procStat{ppid: ppid, ticks: ut + st}, nil
}

// parseHWM returns VmHWM (peak resident set) in bytes from the content of
// /proc/PID/status.
func parseHWM(b []byte) (uint64, error) { return parseStatusKB(b, "VmHWM") }

// parseRSS returns VmRSS (current resident set) in bytes from the content
// of /proc/PID/status.
func parseRSS(b []byte) (uint64, error) { return parseStatusKB(b, "VmRSS") }

// parseStatusKB returns the "key:  N kB" line of /proc/PID/status content
// in bytes.
func parseStatusKB(b []byte, key string) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), key+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("cannot parse %s line %q", key, sc.Text())
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cannot parse %s line %q: %w", key, sc.Text(), err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no %s line", key)
}

// treeUsage is the CPU time, peak RSS and current RSS summed over a process
// tree.
type treeUsage struct {
	procs int
	cpu   time.Duration
	hwm   uint64 // bytes; shared pages are counted once per process
	rss   uint64 // bytes, VmRSS now; shared pages are counted once per process
}

// readTree sums utime+stime, VmHWM and VmRSS over root and all its
// descendants, by scanning /proc once. Processes that vanish while scanning
// are skipped.
func readTree(root int, tick time.Duration) (treeUsage, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return treeUsage{}, fmt.Errorf("cannot list /proc: %w", err)
	}
	stats := map[int]procStat{}
	children := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		st, err := parseStat(b)
		if err != nil {
			continue
		}
		stats[pid] = st
		children[st.ppid] = append(children[st.ppid], pid)
	}
	if _, ok := stats[root]; !ok {
		return treeUsage{}, fmt.Errorf("cannot read process %d: not running", root)
	}
	var u treeUsage
	queue := []int{root}
	for len(queue) > 0 && u.procs < 10000 {
		pid := queue[0]
		queue = queue[1:]
		u.procs++
		u.cpu += time.Duration(stats[pid].ticks) * tick
		if b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status")); err == nil {
			if hwm, err := parseHWM(b); err == nil {
				u.hwm += hwm
			}
			if rss, err := parseRSS(b); err == nil {
				u.rss += rss
			}
		}
		queue = append(queue, children[pid]...)
	}
	return u, nil
}

// clockTick returns the length of one clock tick (USER_HZ), asking
// getconf and falling back to Linux's usual 100 Hz.
func clockTick() time.Duration {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if hz, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && hz > 0 {
			return time.Second / time.Duration(hz)
		}
	}
	return 10 * time.Millisecond
}

// selfCPU returns loadbench's own utime+stime, without its children.
func selfCPU(tick time.Duration) (time.Duration, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, fmt.Errorf("cannot read own CPU time: %w", err)
	}
	st, err := parseStat(b)
	if err != nil {
		return 0, fmt.Errorf("cannot read own CPU time: %w", err)
	}
	return time.Duration(st.ticks) * tick, nil
}

// startRedis starts a redis-server for row name in dir, on a free loopback
// port, without persistence, and waits until it accepts connections. It
// joins procs, so it is stopped with the other processes.
func startRedis(ctx context.Context, name, dir string, procs *[]*proc) (string, error) {
	path, err := lookBin("redis-server")
	if err != nil {
		return "", skipError{"redis-server is not installed (apt-get install redis-server)"}
	}
	addr, err := freePort()
	if err != nil {
		return "", err
	}
	_, port, _ := net.SplitHostPort(addr)
	p, err := startProc(name+"-redis", dir, nil, path, "--port", port, "--bind", "127.0.0.1", "--protected-mode", "yes",
		"--save", "", "--appendonly", "no", "--dir", dir)
	if err != nil {
		return "", err
	}
	*procs = append(*procs, p)
	for i := 0; i < 250; i++ { // bounded: 5s
		if err := ctx.Err(); err != nil {
			return "", err
		}
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return addr, nil
		}
		if !p.running() {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", fmt.Errorf("redis-server for %s did not start on %s: %s", name, addr, p.logTail(10))
}
