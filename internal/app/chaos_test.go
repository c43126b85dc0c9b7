package app

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestChaosCommandLine: `ordersys chaos` states its flags, and refuses settings it cannot run
// with before starting anything. The suite itself runs in internal/chaos (TestChaos).
func TestChaosCommandLine(t *testing.T) {
	run := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := Run(context.Background(), append([]string{"ordersys", "chaos"}, args...), func(string) string { return "" }, &stdout, &stderr)
		return stderr.String(), err
	}
	if out, err := run("--help"); !IsHelp(err) || !strings.Contains(out, "Usage: ordersys chaos [flags]") ||
		!strings.Contains(out, "(default 2m0s)") || !strings.Contains(out, "-fault-gap") {
		t.Errorf("--help: %v, printed %q", err, out)
	}
	for _, args := range [][]string{
		{"--cancel-percent", "101"},
		{"--rate", "0"},
		{"--duration", "-1s"},
		{"--partitions", "0"},
		{"extra"},
	} {
		if out, err := run(args...); !IsUsage(err) {
			t.Errorf("%v: %v, printed %q; want a usage error", args, err, out)
		}
	}
}
