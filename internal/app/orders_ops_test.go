package app

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/order"
)

// TestOrderOperatorViews: over HTTP, an order waiting for a service that is not running shows its
// step (attempts, deadline, the replies awaited) in GET and in the list, is listed as stuck once
// older than olderThan, and is counted; an order that ended shows no step. /api/v1/orders/counts
// is its own route, not an order id, for the router and for the validator.
func TestOrderOperatorViews(t *testing.T) {
	d := startDevWith(t, DevConfig{Services: []string{"order", "payment", "inventory", "notification"},
		Rules: Rules{StepTimeout: time.Hour, StepAttempts: 4}})
	base := "http://" + d.Addr

	counts := func() map[string]any {
		t.Helper()
		r := do(t, http.MethodGet, base+"/api/v1/orders/counts", "", "", nil)
		if r.status != http.StatusOK {
			t.Fatalf("counts: %d %s", r.status, r.body)
		}
		c, ok := r.json(t)["counts"].(map[string]any)
		if !ok {
			t.Fatalf("counts: %s", r.body)
		}
		for _, st := range order.Statuses {
			if _, ok := c[string(st)].(float64); !ok {
				t.Errorf("counts lack %s: %s", st, r.body)
			}
		}
		return c
	}
	if c := counts(); c["FULFILLMENT"] != 0.0 || c["FAILED"] != 0.0 {
		t.Errorf("counts before any order: %v", c)
	}
	counted := time.Now()

	waiting := placeOrder(t, base, orderBody(uuid.NewString(), "SKU-1")) // fulfillment does not run
	o := waitStatus(t, base, waiting, "FULFILLMENT", 10*time.Second)
	step, ok := o["step"].(map[string]any)
	if !ok {
		t.Fatalf("order in FULFILLMENT has no step: %v", o)
	}
	deadline, err := time.Parse(time.RFC3339Nano, fmt.Sprint(step["deadline"]))
	if err != nil || step["attempts"] != 1.0 || step["maxAttempts"] != 4.0 ||
		fmt.Sprint(step["waitingFor"]) != "[ShipmentCreated ShipmentFailed]" ||
		deadline.Before(time.Now().Add(50*time.Minute)) || deadline.After(time.Now().Add(time.Hour)) {
		t.Errorf("step of an order in FULFILLMENT: %v (deadline %v, %v)", step, deadline, err)
	}

	ended := placeOrder(t, base, orderBody(uuid.NewString(), "NO-SUCH-SKU"))
	if o := waitStatus(t, base, ended, "FAILED", 10*time.Second); o["step"] != nil {
		t.Errorf("ended order has a step: %v", o["step"])
	}

	list := func(query string) []string {
		t.Helper()
		r := do(t, http.MethodGet, base+"/api/v1/orders?"+query, "", "", nil)
		if r.status != http.StatusOK {
			t.Fatalf("list ?%s: %d %s", query, r.status, r.body)
		}
		var ids []string
		for _, it := range r.json(t)["items"].([]any) {
			item := it.(map[string]any)
			ids = append(ids, item["orderId"].(string))
			if (item["step"] != nil) != (item["orderId"] == waiting) {
				t.Errorf("list ?%s: %s has step %v", query, item["orderId"], item["step"])
			}
		}
		return ids
	}
	if got := list(""); !slices.Equal(got, []string{ended, waiting}) {
		t.Errorf("list = %v, want %v", got, []string{ended, waiting})
	}
	if got := list("stuck=true"); len(got) != 0 {
		t.Errorf("stuck with the default olderThan, within its deadline: %v, want none", got)
	}
	time.Sleep(5 * time.Millisecond)
	if got := list("stuck=true&olderThan=1ms"); !slices.Equal(got, []string{waiting}) {
		t.Errorf("stuck past 1ms = %v, want %v", got, []string{waiting})
	}
	if got := list("stuck=false&olderThan=1ms"); len(got) != 2 {
		t.Errorf("stuck=false lists %v, want both", got)
	}
	before := time.Now().UTC().Format(time.RFC3339Nano)
	if got := list("createdBefore=" + before); len(got) != 2 {
		t.Errorf("created before now: %v, want both", got)
	}
	if got := list("createdBefore=2020-01-01T00:00:00Z"); len(got) != 0 {
		t.Errorf("created before 2020: %v, want none", got)
	}
	for _, bad := range []string{"olderThan=banana", "olderThan=0s", "olderThan=-5m", "stuck=true&olderThan=5", "createdBefore=yesterday", "stuck=maybe"} {
		r := do(t, http.MethodGet, base+"/api/v1/orders?"+bad, "", "", nil)
		field, _, _ := strings.Cut(bad[strings.LastIndex(bad, "&")+1:], "=")
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), `"field":"`+field+`"`) {
			t.Errorf("?%s: %d %s, want 400 naming %s", bad, r.status, r.body, field)
		}
	}

	// A count is kept for 5 s, then counted again.
	if c := counts(); time.Since(counted) < 4*time.Second && (c["FULFILLMENT"] != 0.0 || c["FAILED"] != 0.0) {
		t.Errorf("counts within 5 s of the first: %v, want the first's", c)
	}
	poll(t, 10*time.Second, 250*time.Millisecond, func() (bool, string) {
		c := counts()
		return c["FULFILLMENT"] == 1.0 && c["FAILED"] == 1.0 && c["PENDING"] == 0.0, fmt.Sprint(c)
	})

	// counts is a route of its own: other methods are refused, an order id is still an order id,
	// and a malformed one is still a bad order id.
	for _, tt := range []struct {
		method, path string
		want         int
	}{
		{http.MethodPost, "/api/v1/orders/counts", http.StatusMethodNotAllowed},
		{http.MethodGet, "/api/v1/orders/counts/x", http.StatusNotFound},
		{http.MethodGet, "/api/v1/orders/" + waiting, http.StatusOK},
		{http.MethodGet, "/api/v1/orders/" + uuid.NewString(), http.StatusNotFound},
		{http.MethodGet, "/api/v1/orders/count", http.StatusBadRequest},
	} {
		if r := do(t, tt.method, base+tt.path, "", "", nil); r.status != tt.want {
			t.Errorf("%s %s: %d %s, want %d", tt.method, tt.path, r.status, r.body, tt.want)
		}
	}
}
