package httpx_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/httpx"
)

// TestReadinessNamesNoDetail: anyone may ask for readiness, so a failing check says only that it
// fails; what the driver said (which names the database's user, host and port) goes to the log,
// once when the check starts failing rather than per probe, and its recovery too.
func TestReadinessNamesNoDetail(t *testing.T) {
	detail := errors.New("failed to connect to `user=alice database=shop`: 10.9.8.7:6543 (db.internal): dial error: connection refused")
	var down atomic.Bool
	down.Store(true)
	var logs bytes.Buffer
	h := &httpx.Health{
		Checks: []httpx.Check{
			{Name: "database:order", Ping: func(context.Context) error {
				if down.Load() {
					return detail
				}
				return nil
			}},
			{Name: "broker", Ping: func(context.Context) error { return nil }},
		},
		Log: slog.New(slog.NewJSONHandler(&logs, nil)),
	}
	probe := func() (int, string) {
		t.Helper()
		resp, err := h.Readiness(t.Context(), api.ReadinessRequestObject{})
		if err != nil {
			t.Fatal(err)
		}
		body, err := json.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		switch resp.(type) {
		case api.Readiness503JSONResponse:
			return 503, string(body)
		case api.Readiness200JSONResponse:
			return 200, string(body)
		}
		t.Fatalf("readiness answered %T", resp)
		return 0, ""
	}

	for range 3 {
		status, body := probe()
		want := `{"checks":{"broker":"ok","database:order":"unavailable"},"status":"unavailable"}`
		if status != 503 || body != want {
			t.Errorf("readiness with the database down: %d %s, want 503 %s", status, body, want)
		}
		for _, secret := range []string{"alice", "shop", "10.9.8.7", "6543", "db.internal"} {
			if strings.Contains(body, secret) {
				t.Errorf("readiness body %s names %q", body, secret)
			}
		}
	}
	down.Store(false)
	if status, body := probe(); status != 200 {
		t.Errorf("readiness with the database back: %d %s", status, body)
	}
	down.Store(true)
	probe()

	var lines []map[string]any
	for line := range strings.Lines(logs.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		lines = append(lines, m)
	}
	want := []string{"WARN readiness check failed", "INFO readiness check passes again", "WARN readiness check failed"}
	if len(lines) != len(want) {
		t.Fatalf("logged %d lines, want %d (%q):\n%s", len(lines), len(want), want, logs.String())
	}
	for i, m := range lines {
		if got := m["level"].(string) + " " + m["msg"].(string); got != want[i] || m["check"] != "database:order" {
			t.Errorf("log line %d: %v, want %q for database:order", i, m, want[i])
		}
	}
	if lines[0]["err"] != detail.Error() {
		t.Errorf("the log says %v, want why the check failed: %q", lines[0]["err"], detail)
	}
}
