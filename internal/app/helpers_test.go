package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// quickStart is the seed README's request body, verbatim.
const quickStart = `{"customerId":"67993c38-8059-4d8b-8567-1542560584ee",
           "items":[{"sku":"SKU-1","quantity":33,"unitPrice":19.99},
                    {"sku":"SKU-2","quantity":14.50,"unitPrice":25}],
           "currency":"USD",
           "shippingAddress":{"country":"USA","city":"Austin","addressLine1":"Lincoln, 65"}}`

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// startDev runs `ordersys dev` in-process on free ports with a temporary data dir.
func startDev(t *testing.T) *Dev {
	t.Helper()
	return startDevWith(t, DevConfig{})
}

// startDevWith is startDev with some settings of the test's own.
func startDevWith(t *testing.T, cfg DevConfig) *Dev {
	t.Helper()
	cfg.Addr, cfg.KafkaAddr, cfg.Log = "127.0.0.1:0", "127.0.0.1:0", testLogger()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	d, err := StartDev(t.Context(), cfg)
	if err != nil {
		t.Fatalf("start dev: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("close dev: %v", err)
		}
	})
	return d
}

var client = &http.Client{Timeout: 30 * time.Second}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
	return m
}

func do(t *testing.T, method, url, contentType, key string, body []byte) response {
	t.Helper()
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	if key != "" {
		h.Set("Idempotency-Key", key)
	}
	return send(t, method, url, h, body)
}

// send makes one request with the headers h and reads the whole answer.
func send(t *testing.T, method, url string, h http.Header, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func createOrder(t *testing.T, base, key, body string) response {
	t.Helper()
	return do(t, http.MethodPost, base+"/api/v1/orders/create", "application/json", key, []byte(body))
}

// orderBody is a valid order for customer with one line per sku.
func orderBody(customer string, skus ...string) string {
	var items []string
	for i, sku := range skus {
		items = append(items, fmt.Sprintf(`{"sku":%q,"quantity":%d,"unitPrice":%d.25}`, sku, i+1, i+3))
	}
	return fmt.Sprintf(`{"customerId":%q,"items":[%s],"currency":"USD",
		"shippingAddress":{"country":"USA","city":"Austin","addressLine1":"Lincoln, 65"}}`,
		customer, strings.Join(items, ","))
}

// placeTracedOrder creates an order as a caller in a trace would, with traceparent (and
// tracestate, if any), and returns its id and the answer's headers.
func placeTracedOrder(t *testing.T, base, body, traceparent, tracestate string) (string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/orders/create", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", uuid.NewString())
	req.Header.Set("traceparent", traceparent)
	if tracestate != "" {
		req.Header.Set("tracestate", tracestate)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		OrderID string `json:"orderId"`
	}
	if err := decodeJSON(resp, &created); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %v", resp.StatusCode, err)
	}
	return created.OrderID, resp.Header
}

// placeOrder creates an order and returns its id, failing the test on anything but 201.
// A 503 (admission control: the system is at its bounds) is retried with the same key after its
// Retry-After, as the API asks of a client, for up to 30 s.
func placeOrder(t *testing.T, base, body string) string {
	t.Helper()
	key := uuid.NewString()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := createOrder(t, base, key, body)
		if r.status == http.StatusServiceUnavailable && time.Now().Before(deadline) {
			wait, err := strconv.Atoi(r.header.Get("Retry-After"))
			if err != nil || wait < 1 {
				wait = 1
			}
			time.Sleep(time.Duration(wait) * time.Second)
			continue
		}
		if r.status != http.StatusCreated {
			t.Errorf("create: %d %s", r.status, r.body)
			return ""
		}
		return r.json(t)["orderId"].(string)
	}
}

// waitStatus polls an order until it reaches want, failing after timeout.
func waitStatus(t *testing.T, base, id, want string, timeout time.Duration) map[string]any {
	t.Helper()
	var o map[string]any
	pollGET(t, base+"/api/v1/orders/"+id, timeout, func(body map[string]any) (bool, string) {
		o = body
		return o["status"] == want, fmt.Sprintf("order %s still %v, want %s", id, o["status"], want)
	})
	return o
}

// waitNotified polls an order's notifications until it has one, failing after timeout. The
// notification service records an order's outcome a moment after the order reaches it (it
// lingers to gather records), so a test that has seen COMPLETED waits for it.
func waitNotified(t *testing.T, base, id string, timeout time.Duration) {
	t.Helper()
	pollGET(t, base+"/api/v1/notifications?orderId="+id, timeout, func(body map[string]any) (bool, string) {
		items, _ := body["items"].([]any)
		return len(items) > 0, fmt.Sprintf("order %s has no notification", id)
	})
}

// pollGET gets url every 20 ms until done says its JSON body is what the test waits for, failing
// with done's description of the last body after timeout. An answer other than 200 fails at once.
func pollGET(t *testing.T, url string, timeout time.Duration, done func(map[string]any) (bool, string)) {
	t.Helper()
	poll(t, timeout, 20*time.Millisecond, func() (bool, string) {
		r := do(t, http.MethodGet, url, "", "", nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", url, r.status, r.body)
		}
		return done(r.json(t))
	})
}

// poll calls check every tick until it reports done, failing the test with check's description
// of what it last saw once timeout has passed.
func poll(t *testing.T, timeout, tick time.Duration, check func() (done bool, state string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s after %s", state, timeout)
		}
		time.Sleep(tick)
	}
}

func historyStatuses(t *testing.T, o map[string]any) []string {
	t.Helper()
	var out []string
	var last time.Time
	for _, h := range o["history"].([]any) {
		entry := h.(map[string]any)
		at, err := time.Parse(time.RFC3339Nano, entry["at"].(string))
		if err != nil {
			t.Fatalf("history timestamp: %v", err)
		}
		if at.Before(last) {
			t.Errorf("history goes back in time: %v", o["history"])
		}
		last = at
		out = append(out, entry["status"].(string))
	}
	return out
}

// historyLines lists an order's history as "STATUS REASON" (just the status without a reason).
func historyLines(o map[string]any) []string {
	var out []string
	for _, h := range o["history"].([]any) {
		entry := h.(map[string]any)
		line := entry["status"].(string)
		if r, _ := entry["reason"].(string); r != "" {
			line += " " + r
		}
		out = append(out, line)
	}
	return out
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

func decodeJSON(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
