package main

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Go's sysmon thread sleeps 20 µs at a time for a millisecond or more whenever a process that was
// idle makes a syscall (runtime/proc.go: "If it wakes from a syscall it resets idle and delay").
// An ordersys process waits on the network, so it goes from idle to busy hundreds of times a
// second, and its sysmon wakes thousands of times a second; on a virtual machine each of those
// timer wake-ups goes through the hypervisor. A timer slack of a few milliseconds lets the kernel
// let those sleeps run long, so a busy process switches context far less and its tail latency
// drops (measured in docs/performance.md). The services' own timers are 50 ms and longer, and
// what is latency-critical waits on sockets, which the slack does not touch. The load generator
// paces requests a few milliseconds apart, so it keeps to 1 ms.
//
// Timer slack belongs to a thread and is inherited by the threads it creates, and sysmon's thread
// exists before main runs. So the process sets the slack on its own thread and execs itself: the
// new image starts on that thread, and every thread the runtime makes from then on inherits it.

// timerSlacks are the default slacks of the commands that run for long enough to matter.
var timerSlacks = map[string]time.Duration{
	"dev":     4 * time.Millisecond,
	"serve":   4 * time.Millisecond,
	"broker":  4 * time.Millisecond,
	"loadgen": time.Millisecond,
}

// applyTimerSlack gives the process running command the timer slack ORDERSYS_TIMER_SLACK asks for
// (timerSlacks by default; 0 keeps the system's), re-executing it once to do so. It returns only if
// the slack is already in place, is not wanted, or cannot be applied, and errs only on a malformed
// setting.
func applyTimerSlack(command string, getenv func(string) string) error {
	want, ok := timerSlacks[command]
	if !ok {
		return nil
	}
	if v := getenv("ORDERSYS_TIMER_SLACK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("ORDERSYS_TIMER_SLACK=%q: want a duration such as 1ms, or 0", v)
		}
		want = d
	}
	if want == 0 {
		return nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if current, err := threadSlack(); err != nil || current == want {
		return nil
	}
	// The kernel ignores the setting for real-time threads; re-reading it keeps that case from
	// re-executing forever.
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(want), 0, 0, 0); err != nil {
		return nil
	}
	if current, err := threadSlack(); err != nil || current != want {
		return nil
	}
	err := syscall.Exec("/proc/self/exe", os.Args, os.Environ())
	// Still here: the exec failed (no /proc, a sandbox). Run on with the system's slack.
	fmt.Fprintf(os.Stderr, "ordersys: timer slack not applied: %v\n", err)
	return nil
}

// threadSlack is the timer slack of the calling thread.
func threadSlack() (time.Duration, error) {
	ns, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	return time.Duration(ns), err
}
