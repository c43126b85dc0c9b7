package app

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/sqlstore"
)

// devProcess is `ordersys dev` running as a child process (the test binary re-executed).
type devProcess struct {
	cmd  *exec.Cmd
	base string
}

func startDevProcess(t *testing.T, dataDir string) *devProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "dev", "--addr", "127.0.0.1:0", "--kafka-addr", "127.0.0.1:0",
		"--data-dir", dataDir, "--log-level", "warn")
	cmd.Env = append(os.Environ(), execEnv+"=1")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &devProcess{cmd: cmd}
	t.Cleanup(func() { p.kill() })
	apiLine := regexp.MustCompile(`API\s+(http://\S+)/api/v1/orders`)
	found := make(chan string, 1)
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			if m := apiLine.FindStringSubmatch(lines.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case p.base = <-found:
	case <-time.After(60 * time.Second):
		t.Fatal("dev process printed no API address")
	}
	return p
}

func (p *devProcess) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// stop ends the process gracefully, as Ctrl-C would.
func (p *devProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("dev exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not stop within 30s of SIGTERM")
	}
}

// TestCrashRestart kills `ordersys dev` with SIGKILL while orders are in flight, starts it again on
// the same data dir, and checks that every order completes with every effect applied once.
func TestCrashRestart(t *testing.T) {
	dataDir := t.TempDir()
	p := startDevProcess(t, dataDir)
	const n = 150
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { ids[i] = placeOrder(t, p.base, orderBody(uuid.NewString(), "SKU-1", "SKU-3")) })
	}
	wg.Wait()
	done := do(t, http.MethodGet, p.base+"/api/v1/orders?status=COMPLETED&size=1", "", "", nil).json(t)["total"]
	t.Logf("killing with %v of %d orders completed", done, n)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()

	p = startDevProcess(t, dataDir)
	for _, id := range ids {
		waitStatus(t, p.base, id, "COMPLETED", 90*time.Second)
	}
	p.stop(t)

	// Count every side effect straight from each service's database.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, c := range []struct{ db, query string }{
		{"payment", "SELECT COUNT(*), COUNT(DISTINCT order_id) FROM payments WHERE kind = 'CHARGE'"},
		{"inventory", "SELECT COUNT(*), COUNT(DISTINCT order_id) FROM reservations"},
		{"fulfillment", "SELECT COUNT(*), COUNT(DISTINCT order_id) FROM shipments"},
		{"notification", "SELECT COUNT(*), COUNT(DISTINCT order_id) FROM notifications"},
		{"order", "SELECT COUNT(*), COUNT(DISTINCT id) FROM orders WHERE status = 'COMPLETED'"},
	} {
		db, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(dataDir, c.db+".db"))
		if err != nil {
			t.Fatal(err)
		}
		var rows, orders int
		if err := db.QueryRowContext(ctx, c.query).Scan(&rows, &orders); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if rows != n || orders != n {
			t.Errorf("%s: %d rows for %d orders, want %d each", c.db, rows, orders, n)
		}
	}
}
