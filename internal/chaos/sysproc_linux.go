package chaos

import "syscall"

// childAttr puts a child in a process group of its own, so that a Ctrl-C at the terminal reaches
// only the chaos run, which stops its children in order; and has the kernel kill the child should
// the run die without stopping it (SIGKILL, a test's timeout).
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
