package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// The helper process runs applyTimerSlack as main would for the command in ORDERSYS_SLACK_HELPER
// (which may re-execute this test binary), then prints the timer slack of its first thread and
// of threads started afterwards.
func TestMain(m *testing.M) {
	if command := os.Getenv("ORDERSYS_SLACK_HELPER"); command != "" {
		runtime.LockOSThread()
		if err := applyTimerSlack(command, os.Getenv); err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		fmt.Println(strings.Join(threadSlacks(4), " "))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// threadSlacks returns the slack of the calling thread and of n threads the runtime starts for
// goroutines that lock one each and wait together.
func threadSlacks(n int) []string {
	slack := func() string {
		d, err := threadSlack()
		if err != nil {
			return err.Error()
		}
		return fmt.Sprint(d.Nanoseconds())
	}
	out := make([]string, n+1)
	out[0] = slack()
	var started, done sync.WaitGroup
	release := make(chan struct{})
	for i := 1; i <= n; i++ {
		started.Add(1)
		done.Go(func() {
			runtime.LockOSThread()
			out[i] = slack()
			started.Done()
			<-release // hold the thread, so that the next goroutine needs a new one
		})
	}
	started.Wait()
	close(release)
	done.Wait()
	return out
}

func runHelper(t *testing.T, command, setting string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ORDERSYS_SLACK_HELPER="+command, "ORDERSYS_TIMER_SLACK="+setting)
	out, err := cmd.CombinedOutput()
	if err != nil && !strings.HasPrefix(string(out), "error:") {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestTimerSlack(t *testing.T) {
	own, err := threadSlack()
	if err != nil {
		t.Fatal(err)
	}
	unchanged := strings.TrimSpace(strings.Repeat(fmt.Sprint(own.Nanoseconds())+" ", 5))
	for _, c := range []struct{ command, setting, want string }{
		{"serve", "", "4000000 4000000 4000000 4000000 4000000"}, // the default, on every thread
		{"loadgen", "", "1000000 1000000 1000000 1000000 1000000"},
		{"dev", "250us", "250000 250000 250000 250000 250000"},
		{"serve", "0", unchanged},    // turned off
		{"migrate", "", unchanged},   // a short command is left alone
		{"broker", "soon", "error:"}, // a clear error, not a silent default
	} {
		got := runHelper(t, c.command, c.setting)
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("%s with ORDERSYS_TIMER_SLACK=%q: thread slacks %q, want %q", c.command, c.setting, got, c.want)
		}
	}
}
