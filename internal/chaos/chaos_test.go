package chaos

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestChaos runs the suite for two minutes against the real binary: the production topology
// under load while processes, the broker and PostgreSQL are killed, frozen and restarted, then
// the audit of every service's database.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the production topology under faults for two minutes")
	}
	pgBin, err := findPGBin("")
	if err != nil {
		if required() {
			t.Fatal(err)
		}
		t.Skipf("no PostgreSQL: %v", err)
	}
	res, err := Run(t.Context(), Config{Binary: buildOrdersys(t), Duration: 2 * time.Minute, Rate: 30,
		Drain: 2 * time.Minute, PGBin: pgBin, Log: logWriter{t}})
	if res != nil {
		var b bytes.Buffer
		res.Write(&b)
		t.Logf("\n%s", b.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		t.Error("the audit found violations, or a process died on its own (see above)")
	}
	kinds := map[string]int{}
	for _, f := range res.Faults {
		kinds[f.Kind]++
		if f.Err != "" {
			t.Errorf("%s %s was not undone: %s", f.Kind, f.Target, f.Err)
		}
	}
	for _, k := range faultKinds {
		if kinds[k] == 0 {
			t.Errorf("no %s fault in %d faults", k, len(res.Faults))
		}
	}
	if a := res.Audit; a == nil || a.Statuses["COMPLETED"] == 0 || a.Statuses["CANCELLED"] == 0 || a.Statuses["FAILED"] == 0 {
		t.Errorf("want orders completed, cancelled and failed; got %v", res.Audit)
	}
}

// buildOrdersys builds the ordersys binary without the race detector, whatever the tests run
// with: nine processes share the machine, and under -race each would be several times slower and
// larger, which is not the system under test.
func buildOrdersys(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "ordersys")
	cmd := exec.CommandContext(t.Context(), goTool, "build", "-o", bin, "github.com/ordersys/ordersys/cmd/ordersys")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// required: in CI (or with ORDERSYS_REQUIRE_POSTGRES=1) a missing PostgreSQL fails, as in pgtest.
func required() bool {
	for _, v := range []string{os.Getenv("CI"), os.Getenv("ORDERSYS_REQUIRE_POSTGRES")} {
		if b, err := strconv.ParseBool(strings.TrimSpace(v)); err == nil && b {
			return true
		}
	}
	return false
}

// logWriter writes the run's progress lines to the test's log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestLongestStall: a stall is the longest time without a completion in a fault's window,
// counted from the fault at the earliest and to the next fault at the latest, open when the window
// ended in it.
func TestLongestStall(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Millisecond) }
	at := func(m ...int) []time.Time {
		var out []time.Time
		for _, v := range m {
			out = append(out, ms(v))
		}
		return out
	}
	for _, c := range []struct {
		name        string
		completions []time.Time
		from, until time.Time
		want        time.Duration
		open        bool
	}{
		{"steady", at(0, 100, 200, 300, 400), ms(50), ms(350), 100 * time.Millisecond, false},
		{"a pause after the fault", at(0, 100, 1900, 2000), ms(150), ms(3000), 1750 * time.Millisecond, false},
		{"a pause before the fault counts from the fault", at(0, 2000, 2100), ms(1500), ms(2400), 500 * time.Millisecond, false},
		{"a pause at the end of the window is open", at(0, 2000, 2100), ms(1500), ms(3000), 900 * time.Millisecond, true},
		{"a pause running past the window ends with it", at(0, 100, 5000), ms(150), ms(1000), 850 * time.Millisecond, true},
		{"nothing after the fault", at(0, 100), ms(150), ms(1000), 850 * time.Millisecond, true},
		{"an empty window", at(0, 100), ms(150), ms(150), 0, false},
	} {
		if got, open := longestStall(c.completions, c.from, c.until); got != c.want || open != c.open {
			t.Errorf("%s: %v open %v, want %v open %v", c.name, got, open, c.want, c.open)
		}
	}
}
