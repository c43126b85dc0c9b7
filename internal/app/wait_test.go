package app

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestWaitForTerminal follows an order through `dev` with one long poll, which the commit that
// ends the order answers, and checks the bad requests the spec and the handler refuse.
func TestWaitForTerminal(t *testing.T) {
	d := startDev(t)
	base := "http://" + d.Addr
	id := placeOrder(t, base, orderBody(uuid.NewString(), "SKU-1"))
	start := time.Now()
	r := send(t, http.MethodGet, base+"/api/v1/orders/"+id+"?waitFor=terminal&timeout=20s", http.Header{}, nil)
	if r.status != http.StatusOK || r.header.Get("Order-Wait") != "terminal" || r.json(t)["status"] != "COMPLETED" {
		t.Fatalf("long poll: %d Order-Wait %q %s", r.status, r.header.Get("Order-Wait"), r.body)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("long poll answered after %v", took)
	}
	if r := send(t, http.MethodGet, base+"/api/v1/orders/"+id, http.Header{}, nil); r.status != http.StatusOK ||
		r.header.Get("Order-Wait") != "" {
		t.Errorf("plain GET: %d Order-Wait %q", r.status, r.header.Get("Order-Wait"))
	}
	for _, q := range []string{"waitFor=terminal&timeout=1m", "waitFor=terminal&timeout=soon", "waitFor=never"} {
		r := send(t, http.MethodGet, base+"/api/v1/orders/"+id+"?"+q, http.Header{}, nil)
		field, _, _ := strings.Cut(strings.TrimPrefix(q, "waitFor=terminal&"), "=")
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), field) {
			t.Errorf("?%s: %d %s, want 400 naming %s", q, r.status, r.body, field)
		}
	}
}
