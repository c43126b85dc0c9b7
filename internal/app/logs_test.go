package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// syncBuffer is a log destination that handlers write from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines decodes every JSON line written so far.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if strings.Count(line, `"service":`) > 1 {
			t.Errorf("log line names its service more than once: %s", line)
		}
		out = append(out, m)
	}
	return out
}

// TestJSONLogs: with JSON logs, an order reaching its end is one info line naming the order,
// its status, reason and duration, and the service; with --access-log each request is a line.
func TestJSONLogs(t *testing.T) {
	var out syncBuffer
	logs := logSettings{level: "info", format: "json"}
	log, err := logs.logger(&out)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DevConfig{AccessLog: true}
	cfg.Addr, cfg.KafkaAddr, cfg.Log, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", log, t.TempDir()
	d, err := StartDev(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	base := "http://" + d.Addr
	// A caller's trace: with no exporter configured, ordersys records no spans of its own, but
	// keeps the caller's trace context, and its log lines name it.
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	id, _ := placeTracedOrder(t, base, orderBody(uuid.NewString(), "SKU-1"), "00-"+traceID+"-b7ad6b7169203331-01", "")
	waitStatus(t, base, id, "COMPLETED", 30*time.Second)

	var finished, request map[string]any
	poll(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
		for _, l := range out.lines(t) {
			switch {
			case l["msg"] == "order finished" && l["order_id"] == id:
				finished = l
			case l["msg"] == "http request" && l["path"] == "/api/v1/orders/create":
				request = l
			}
		}
		return finished != nil && request != nil, "no finished-order or request line yet"
	})
	if finished["level"] != "INFO" || finished["service"] != "order" || finished["status"] != "COMPLETED" ||
		finished["duration_ms"] == nil || finished["trace_id"] != traceID || finished["span_id"] == nil {
		t.Errorf("finished order line: %v", finished)
	}
	if request["status"] != float64(201) || request["method"] != "POST" {
		t.Errorf("request line: %v", request)
	}
}

// TestLogFlags: serve logs JSON by default (for a log pipeline), dev text (for a person); a bad
// format is refused.
func TestLogFlags(t *testing.T) {
	none := func(string) string { return "" }
	if _, logs, err := parseServe([]string{"--auth", "none"}, none, io.Discard); err != nil || logs.format != "json" {
		t.Errorf("serve: %+v, %v; want json", logs, err)
	}
	if _, logs, err := parseDev(nil, none, io.Discard); err != nil || logs.format != "text" {
		t.Errorf("dev: %+v, %v; want text", logs, err)
	}
	if _, _, err := parseServe([]string{"--log-format", "xml", "--auth", "none"}, none, io.Discard); !isUsageError(err) {
		t.Errorf("--log-format xml: %v, want a usage error", err)
	}
}

func isUsageError(err error) bool {
	_, ok := errors.AsType[usageError](err)
	return ok
}
