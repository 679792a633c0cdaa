package main

import "syscall"

// procAttr puts a child in a process group of its own, so that the demo can signal it and
// anything it starts at once, and has the kernel kill it if the demo dies without cleaning
// up (SIGKILL, a crash): no orphan keeps a port or a registry entry.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
