package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// child is one service process the demo started.
type child struct {
	id, service string
	cmd         *exec.Cmd
	logPath     string
	done        chan struct{} // closed once the process has ended and been waited for
}

func (c *child) running() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// fleet starts service processes and makes sure none outlives the demo.
type fleet struct {
	exe  string   // the program to run, re-run with -service
	args []string // extra arguments before -service
	env  []string // extra environment of every child
	dir  string   // config files are in dir/config, logs go to dir/logs
	logs io.Writer

	mu       sync.Mutex
	children []*child
}

// start runs one instance of service with its config file and the extra environment env.
func (f *fleet) start(service, id string, env ...string) (*child, error) {
	logPath := filepath.Join(f.dir, "logs", id+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args := append(append([]string(nil), f.args...),
		"-service", service, "-id", id, "-config", filepath.Join(f.dir, "config", service+".yaml"))
	cmd := exec.Command(f.exe, args...)
	cmd.Env = append(append(os.Environ(), f.env...), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if f.logs != nil {
		cmd.Stdout, cmd.Stderr = io.MultiWriter(logFile, f.logs), io.MultiWriter(logFile, f.logs)
	}
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", id, err)
	}
	c := &child{id: id, service: service, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(c.done)
	}()
	f.mu.Lock()
	f.children = append(f.children, c)
	f.mu.Unlock()
	return c, nil
}

// signal sends sig to the child's whole process group.
func (c *child) signal(sig syscall.Signal) {
	if err := syscall.Kill(-c.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		_ = c.cmd.Process.Signal(sig)
	}
}

// kill ends the child at once, as a crash would, and waits for it.
func (c *child) kill() {
	c.signal(syscall.SIGKILL)
	<-c.done
}

// stop asks every child still running to shut down gracefully (SIGTERM: leave the
// registry, drain), and kills those still running after grace.
func (f *fleet) stop(grace time.Duration) {
	f.mu.Lock()
	children := append([]*child(nil), f.children...)
	f.mu.Unlock()
	for _, c := range children {
		if c.running() {
			c.signal(syscall.SIGTERM)
		}
	}
	expired := make(chan struct{})
	t := time.AfterFunc(grace, func() { close(expired) })
	defer t.Stop()
	for _, c := range children {
		select {
		case <-c.done:
		case <-expired:
			c.kill()
		}
	}
}

// find returns the child with the given instance ID.
func (f *fleet) find(id string) *child {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.children {
		if c.id == id {
			return c
		}
	}
	return nil
}
