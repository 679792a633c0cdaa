// Package testenv starts the real servers Tianshu's tests run against (ZooKeeper, Nacos,
// etcd, Jaeger) as plain processes on loopback ports, and reports a missing server the
// way the project requires: a skip naming the install command on a laptop, a failure in CI.
package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// InstallCommand installs every server the tests need.
const InstallCommand = "bash scripts/install-test-deps.sh"

// InCI reports whether the tests run in CI (CI=true), where a missing server is a failure.
func InCI() bool { v := os.Getenv("CI"); return v == "true" || v == "1" }

// Missing stops the test because a server it needs is not installed: a failure in CI, a
// skip elsewhere; both name the command that installs it.
func Missing(t testing.TB, what string) {
	t.Helper()
	msg := fmt.Sprintf("%s is not installed; install it with: %s", what, InstallCommand)
	if InCI() {
		t.Fatal(msg + " (CI=true: a missing server fails the run)")
	}
	t.Skip(msg)
}

// RepoRoot returns the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// ToolsDir returns where the install scripts put the servers they build, as
// scripts/tools-dir.sh prints it: $TIANSHU_TOOLS, or tianshu/tools under the user's cache
// directory, outside the checkout so that every clone on a machine reuses one build.
func ToolsDir() string {
	if d := os.Getenv("TIANSHU_TOOLS"); d != "" {
		return d
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = filepath.Join(os.TempDir(), "tianshu-cache")
	}
	return filepath.Join(base, "tianshu", "tools")
}

// ToolPath returns <name> in ToolsDir.
func ToolPath(name string) string { return filepath.Join(ToolsDir(), name) }

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitTCP waits until addr accepts TCP connections, failing the test after timeout.
func WaitTCP(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not accept connections within %v: %v", addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Process is a server process started by a test. Its output goes to a buffer that the
// test's log shows if the test fails.
type Process struct {
	Name string
	args []string
	env  []string
	dir  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	out    *bytes.Buffer
	exited chan struct{} // closed when cmd has been waited for

	outMu sync.Mutex // guards the contents of out, written by the process's output copiers
}

// syncWriter lets the process's stdout and stderr share one buffer.
type syncWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// StartProcess starts argv in dir with extra environment, and stops it when the test ends.
// The process is put in its own process group so that Kill reaches its children too.
func StartProcess(t testing.TB, name, dir string, env []string, argv ...string) *Process {
	t.Helper()
	p := &Process{Name: name, args: argv, env: env, dir: dir}
	p.start(t)
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, p.Output())
		}
	})
	return p
}

func (p *Process) start(t testing.TB) {
	t.Helper()
	if err := p.launch(); err != nil {
		t.Fatal(err)
	}
}

// launch starts the process; it reports errors instead of failing a test, for processes
// started outside any test (from TestMain or a sync.Once).
func (p *Process) launch() error {
	out := &bytes.Buffer{}
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), p.env...)
	w := syncWriter{mu: &p.outMu, b: out}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	p.mu.Lock()
	p.cmd, p.out, p.exited = cmd, out, exited
	p.mu.Unlock()
	return nil
}

// Output returns what the process printed so far.
func (p *Process) Output() string {
	p.mu.Lock()
	out := p.out
	p.mu.Unlock()
	if out == nil {
		return ""
	}
	p.outMu.Lock()
	defer p.outMu.Unlock()
	return out.String()
}

// Pid returns the process ID.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// signal sends sig to the process's group and returns the group's ID, 0 when the process
// was never started.
func (p *Process) signal(sig syscall.Signal) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	return p.cmd.Process.Pid
}

// Pause stops the process with SIGSTOP, as a long GC pause or a frozen VM would, and
// returns once every thread of its group has stopped: kill returns before the threads
// running on other cores take the signal, and a server that answers one more request after
// Pause (a lease revoked by a client that went on at once) fails a test by a race.
func (p *Process) Pause() {
	pgid := p.signal(syscall.SIGSTOP)
	for deadline := time.Now().Add(5 * time.Second); pgid > 0 && !groupStopped(pgid); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			return // a thread that never stops is the kernel's concern; the test goes on
		}
	}
}

// groupStopped reports whether every thread of every process in group pgid is stopped (or
// gone), from /proc: a thread's state is the field after its name in its stat file, and a
// process's threads, its first among them, are under its task directory.
func groupStopped(pgid int) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, stat := range procs {
		if _, group, ok := readStat(stat); !ok || group != pgid {
			continue
		}
		tasks, _ := filepath.Glob(filepath.Join(filepath.Dir(stat), "task", "[0-9]*", "stat"))
		for _, task := range tasks {
			state, _, ok := readStat(task)
			if ok && state != 'T' && state != 't' && state != 'Z' && state != 'X' {
				return false
			}
		}
	}
	return true
}

// readStat returns the state and process group of a /proc stat file. The name before them
// is in parentheses and may hold spaces and parentheses, so fields are read after the last
// ')'.
func readStat(path string) (state byte, pgrp int, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	var ppid int
	if _, err := fmt.Sscanf(string(b[i+1:]), " %c %d %d", &state, &ppid, &pgrp); err != nil {
		return 0, 0, false
	}
	return state, pgrp, true
}

// Resume continues a paused process.
func (p *Process) Resume() { p.signal(syscall.SIGCONT) }

// Kill kills the process group with SIGKILL and waits for it.
func (p *Process) Kill() {
	p.signal(syscall.SIGCONT)
	p.signal(syscall.SIGKILL)
	p.wait()
}

// Stop asks the process to end with SIGTERM, and kills it after 10 s.
func (p *Process) Stop() {
	p.signal(syscall.SIGCONT)
	p.signal(syscall.SIGTERM)
	p.mu.Lock()
	exited := p.exited
	p.mu.Unlock()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		p.Kill()
	}
}

func (p *Process) wait() {
	p.mu.Lock()
	exited := p.exited
	p.mu.Unlock()
	<-exited
}

// Restart stops the process (SIGTERM, or SIGKILL when hard) and starts it again with the
// same command, so data directories and ports are kept.
func (p *Process) Restart(t testing.TB, hard bool) {
	t.Helper()
	if hard {
		p.Kill()
	} else {
		p.Stop()
	}
	p.start(t)
}

// Buffer is a bytes.Buffer that goroutines may write while a test reads it: the output of
// loggers and of the processes a test starts.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
