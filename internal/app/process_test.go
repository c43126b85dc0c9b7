package app

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// process is the ordersys command running as a child process: the test binary re-executed (see
// TestMain), so that tests can kill it with SIGKILL like a crash would.
type process struct {
	name string
	args []string
	cmd  *exec.Cmd
	addr string // what the process printed for ready, e.g. its HTTP base URL
}

var (
	devReady   = regexp.MustCompile(`API\s+(http://\S+)/api/v1/orders`)
	serveReady = regexp.MustCompile(`HTTP\s+(http://\S+)`)
	brokerUp   = regexp.MustCompile(`Kafka\s+(\S+)`)
)

// startProcess runs `ordersys args...` and waits for the line ready matches on its stdout.
func startProcess(t *testing.T, name string, ready *regexp.Regexp, args ...string) *process {
	t.Helper()
	p := &process{name: name, args: args}
	p.start(t, ready)
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *process) start(t *testing.T, ready *regexp.Regexp) {
	t.Helper()
	p.cmd = exec.Command(os.Args[0], p.args...)
	p.cmd.Env = append(os.Environ(), execEnv+"=1")
	p.cmd.Stderr = os.Stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			if m := ready.FindStringSubmatch(lines.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case p.addr = <-found:
	case <-exited:
		t.Fatalf("%s exited before it was ready", p.name)
	case <-time.After(60 * time.Second):
		t.Fatalf("%s was not ready within 60s", p.name)
	}
}

// restart starts the process again with the same arguments.
func (p *process) restart(t *testing.T, ready *regexp.Regexp) {
	t.Helper()
	p.start(t, ready)
}

// crash kills the process with SIGKILL: no shutdown code runs.
func (p *process) crash(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
}

func (p *process) kill() {
	if p.cmd != nil && p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// stop ends the process gracefully, as Ctrl-C would.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s exited with %v after SIGTERM", p.name, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not stop within 30s of SIGTERM", p.name)
	}
}

// freeAddr returns a loopback address nothing listens on, for processes that must come back on
// the same address after a restart.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
