//go:build !linux

package chaos

import "syscall"

// childAttr puts a child in a process group of its own, so that a Ctrl-C at the terminal reaches
// only the chaos run, which stops its children in order.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
