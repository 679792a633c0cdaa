package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

type demoConfig struct {
	dir      string
	calls    int
	interval time.Duration
	// exe and args start a provider process; the default re-runs this program.
	exe  string
	args []string
	env  []string
}

// runDemo starts two providers as separate processes, calls them from this process, kills
// one with SIGKILL halfway, and stops the other at the end. Every process it starts is gone
// when it returns, also on Ctrl-C.
func runDemo(ctx context.Context, out io.Writer, c demoConfig) error {
	if c.dir == "" {
		dir, err := os.MkdirTemp("", "tianshu-greeter-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		c.dir = dir
	}
	if c.exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		c.exe = exe
	}
	fmt.Fprintf(out, "registry: file registry in %s (no server needed)\n", c.dir)

	ids := []string{"provider-1", "provider-2"}
	procs := map[string]*exec.Cmd{}
	defer func() {
		for _, p := range procs {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	}()
	for _, id := range ids {
		cmd := exec.Command(c.exe, append(c.args, "-role", "provider", "-id", id, "-registry", c.dir)...)
		cmd.Stdout, cmd.Stderr = out, out
		cmd.Env = append(os.Environ(), c.env...)
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", id, err)
		}
		procs[id] = cmd
		fmt.Fprintf(out, "started %s (pid %d)\n", id, cmd.Process.Pid)
	}

	killAt := c.calls/2 + 1
	err := runConsumer(ctx, out, c.dir, c.calls, c.interval, func(i int) {
		if i != killAt {
			return
		}
		p := procs[ids[0]]
		_ = p.Process.Signal(syscall.SIGKILL)
		_ = p.Wait()
		delete(procs, ids[0])
		fmt.Fprintf(out, "killed %s with SIGKILL: calls go on against %s\n", ids[0], ids[1])
	})

	for id, p := range procs {
		_ = p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
			fmt.Fprintf(out, "stopped %s (deregistered, drained)\n", id)
		case <-time.After(15 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
		delete(procs, id)
	}
	return err
}
