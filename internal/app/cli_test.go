package app

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestCommandLine: the command line behaves as people expect: --version answers, a command's
// --help prints its own usage (with its arguments) and is not an error, a bad flag or variable is a
// usage error that says what is wrong, and no password is echoed.
func TestCommandLine(t *testing.T) {
	run := func(env map[string]string, args ...string) (string, string, error) {
		var stdout, stderr bytes.Buffer
		err := Run(context.Background(), append([]string{"ordersys"}, args...),
			func(k string) string { return env[k] }, &stdout, &stderr)
		return stdout.String(), stderr.String(), err
	}
	if out, _, err := run(nil, "--version"); err != nil || !strings.HasPrefix(out, "ordersys ") || !strings.Contains(out, "go1.") {
		t.Errorf("--version: %q, %v", out, err)
	}
	for _, cmd := range []string{"serve", "migrate"} {
		if _, errOut, err := run(nil, cmd, "--help"); !IsHelp(err) || IsUsage(err) ||
			!strings.Contains(errOut, "Usage: ordersys "+cmd+" [flags] [SERVICE...]") || !strings.Contains(errOut, "notification") {
			t.Errorf("%s --help: %v, printed %q", cmd, err, errOut)
		}
	}
	if _, errOut, err := run(nil, "serve", "--nope"); !IsUsage(err) || !strings.Contains(errOut, "-nope") {
		t.Errorf("a bad flag: %v, printed %q", err, errOut)
	}
	if _, errOut, err := run(map[string]string{"ORDERSYS_PARTITIONS": "8x"}, "serve"); !IsUsage(err) ||
		!strings.Contains(errOut, `ORDERSYS_PARTITIONS="8x"`) {
		t.Errorf("a bad variable: %v, printed %q", err, errOut)
	}
	if _, errOut, err := run(nil, "broker", "extra"); !IsUsage(err) || !strings.Contains(errOut, "unexpected arguments") {
		t.Errorf("an unexpected argument: %v, printed %q", err, errOut)
	}
	_, errOut, err := run(nil, "migrate", "--database-url", "postgress://u:s3cret@h/db")
	if err == nil || strings.Contains(err.Error()+errOut, "s3cret") || !strings.Contains(err.Error(), "xxxxx") {
		t.Errorf("migrate with a mistyped URL: %v, printed %q: want an error naming it without its password", err, errOut)
	}
}

// TestHealthCommand: `ordersys health` exits 0 against a ready process, and fails against an
// address nothing answers on; a wildcard listen address (a container's 0.0.0.0:3001) is asked on
// this host.
func TestHealthCommand(t *testing.T) {
	d := startDev(t)
	_, port, _ := strings.Cut(d.Addr, ":")
	var out, errOut bytes.Buffer
	env := map[string]string{"ORDERSYS_ADDR": "0.0.0.0:" + port}
	if err := Run(t.Context(), []string{"ordersys", "health"}, func(k string) string { return env[k] }, &out, &errOut); err != nil ||
		out.String() != "ready\n" {
		t.Errorf("health of a ready process: %v, %q %q", err, out.String(), errOut.String())
	}
	if err := Run(t.Context(), []string{"ordersys", "health", "--addr", freeAddr(t)}, func(string) string { return "" },
		&out, &errOut); err == nil || IsUsage(err) {
		t.Errorf("health of nothing: %v, want a failure", err)
	}
}

// TestBrokerServesMetrics: `ordersys broker` has no HTTP listener of its own, so its metrics are
// on --metrics-addr.
func TestBrokerServesMetrics(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"ordersys", "broker", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(),
			"--metrics-addr", "127.0.0.1:0"}, func(string) string { return "" }, out, io.Discard)
	}()
	var url string
	poll(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
		out.mu.Lock()
		defer out.mu.Unlock()
		_, rest, ok := strings.Cut(out.buf.String(), "Metrics     ")
		url, _, _ = strings.Cut(rest, "\n")
		return ok && strings.HasSuffix(url, "/metrics"), "no metrics address printed yet"
	})
	m := scrape(t, url)
	for _, name := range []string{"ordersys_build_info", "go_goroutines", "process_cpu_seconds_total"} {
		if m[name] == nil {
			t.Errorf("the broker's metrics lack %s", name)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("broker: %v", err)
	}
}

// TestDLQCommandErrors: `dlq list` that cannot reach the brokers says which flag or variable names
// them, and `dlq replay` of something that is no dead-letter id says so, not "not found".
func TestDLQCommandErrors(t *testing.T) {
	none := func(string) string { return "" }
	nowhere := freeAddr(t)
	err := Run(t.Context(), []string{"ordersys", "dlq", "list", "--kafka-brokers", nowhere}, none, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--kafka-brokers") || !strings.Contains(err.Error(), "ORDERSYS_KAFKA_BROKERS") {
		t.Errorf("dlq list against nothing: %v", err)
	}
	err = Run(t.Context(), []string{"ordersys", "dlq", "replay", "foo", "--kafka-brokers", nowhere}, none, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "malformed") || strings.Contains(err.Error(), "not found") {
		t.Errorf("dlq replay foo: %v", err)
	}
}
