package chaos

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// What a process prints on stdout once it is ready.
var (
	serveReady  = regexp.MustCompile(`HTTP\s+(http://\S+)`)
	brokerReady = regexp.MustCompile(`Kafka\s+(\S+)`)
)

// readyTimeout bounds a start: a process that has not said it is ready by then is killed.
const readyTimeout = 60 * time.Second

// proc is one ordersys process of the topology, which the run kills, stops and starts again
// with the same arguments.
type proc struct {
	name    string // e.g. payment-2
	bin     string
	args    []string
	env     []string
	logPath string // its stderr, appended to across restarts
	ready   *regexp.Regexp

	// life is held by whoever takes the process through a kill and a start (a fault, or the
	// supervisor starting it again), so that two never start it at once.
	life sync.Mutex

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited
	want    bool          // it should be running: an exit the run did not cause is unexpected
	stopped bool          // SIGSTOPped
}

// start runs the process and waits until it says it is ready.
func (p *proc) start(ctx context.Context) error {
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = p.env
	cmd.Stderr = logFile
	cmd.SysProcAttr = childAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	ready := make(chan struct{})
	go func() {
		lines := bufio.NewScanner(stdout)
		said := false
		for lines.Scan() { // read to the end, so that the child never blocks on a full pipe
			if !said && p.ready.MatchString(lines.Text()) {
				said = true
				close(ready)
			}
		}
		_ = cmd.Wait()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done, p.stopped = cmd, done, false
	p.mu.Unlock()
	select {
	case <-ready:
		p.mu.Lock()
		p.want = true
		p.mu.Unlock()
		return nil
	case <-done:
		return fmt.Errorf("%s exited before it was ready: %s", p.name, lastLines(p.logPath, 5))
	case <-ctx.Done():
		p.kill()
		return ctx.Err()
	case <-time.After(readyTimeout):
		p.kill()
		return fmt.Errorf("%s was not ready within %v: %s", p.name, readyTimeout, lastLines(p.logPath, 5))
	}
}

// startRetrying starts the process, trying again for up to two minutes: a start can fail while
// what it needs is itself coming back.
func (p *proc) startRetrying(ctx context.Context) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := p.start(ctx)
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		if !sleep(ctx, time.Second) {
			return ctx.Err()
		}
	}
}

// signal sends sig to the running process.
func (p *proc) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return errors.New(p.name + " is not running")
	}
	switch sig {
	case syscall.SIGSTOP:
		p.stopped = true
	case syscall.SIGCONT:
		p.stopped = false
	}
	return p.cmd.Process.Signal(sig)
}

// kill ends the process with SIGKILL, as a crash would, and waits for it to be gone.
func (p *proc) kill() {
	p.mu.Lock()
	p.want = false
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// shutdown stops the process gracefully (SIGTERM, after SIGCONT if it is stopped), or with
// SIGKILL if it takes longer than grace.
func (p *proc) shutdown(grace time.Duration) {
	p.mu.Lock()
	p.want = false
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

// exitedUnexpectedly reports whether the process should be running and is not.
func (p *proc) exitedUnexpectedly() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.want || p.done == nil {
		return false
	}
	select {
	case <-p.done:
		p.want = false
		return true
	default:
		return false
	}
}

// sleep waits for d or until ctx ends, and reports whether it waited all of d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// lastLines is the end of a log file, for an error message.
func lastLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
