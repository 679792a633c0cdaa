//go:build unix

package file

import (
	"errors"
	"os"
	"strconv"
	"syscall"
)

// processGone reports whether no running process has this PID. It errs towards "alive":
// the TTL still removes an entry whose PID was reused by an unrelated process.
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	return isZombie(pid)
}

// isZombie reports whether a process has exited but was not yet reaped by its parent.
// kill(pid, 0) succeeds on such a process, yet it heartbeats no more. Only Linux exposes
// this cheaply (through /proc); elsewhere the TTL covers it.
func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The line reads "pid (comm) state ...", and comm may itself hold ") ".
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ')' {
			return i+2 < len(b) && b[i+2] == 'Z'
		}
	}
	return false
}

// pidNamespace names this process's PID namespace where the system exposes it (Linux), so
// that processes in different containers with one host name do not judge each other's PIDs.
func pidNamespace() string {
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return ns
}
