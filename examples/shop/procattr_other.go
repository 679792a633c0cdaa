//go:build unix && !linux

package main

import "syscall"

// procAttr puts a child in a process group of its own. Only Linux has Pdeathsig: elsewhere
// a demo killed with SIGKILL leaves its children running.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
