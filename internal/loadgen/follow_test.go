package loadgen

import (
	"testing"
	"time"
)

func TestTerminalLatencyUsesServerTimestamps(t *testing.T) {
	created := time.Date(2026, 1, 2, 10, 0, 0, 900_000_000, time.UTC)
	view := orderView{Status: statusCompleted, History: []historyEntry{
		{statusPending, "2026-01-02T10:00:00.9Z"},
		{"PAID", "2026-01-02T10:00:00.92Z"},
		{statusCompleted, "2026-01-02T10:00:00.95Z"},
	}}
	if d, _, problem := terminalLatency(created, view); problem != "" || d != 50*time.Millisecond {
		t.Errorf("latency %v %q, want 50ms", d, problem)
	}
	// createdAt rendered with whole seconds: the PENDING entry of the same
	// second supplies the precision instead of inflating the latency.
	if d, _, _ := terminalLatency(created.Truncate(time.Second), view); d != 50*time.Millisecond {
		t.Errorf("latency with second-precision createdAt %v, want 50ms", d)
	}
	view.History = view.History[:2]
	if _, _, problem := terminalLatency(created, view); problem == "" {
		t.Error("COMPLETED without a history entry went unnoticed")
	}
}
