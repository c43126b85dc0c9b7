package app

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/notification"
)

// hookReceiver verifies each delivery with the subscription's secret (set once known) and keeps
// the order ids it accepted, by webhook-id. It answers slowly, so deliveries are in flight when
// a test kills the process.
type hookReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	secret   string
	orders   map[string]string // order id by webhook-id
	requests int
	bad      []string
}

func newHookReceiver(t *testing.T, delay time.Duration) *hookReceiver {
	spec, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	payloadSchema := spec.Components.Schemas["WebhookPayload"].Value
	r := &hookReceiver{orders: map[string]string{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		time.Sleep(delay)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.requests++
		wh, err := standardwebhooks.NewWebhook(r.secret)
		if err == nil {
			err = wh.Verify(body, req.Header)
		}
		var p struct {
			Data struct{ OrderID, Status string }
		}
		var doc any
		if err == nil {
			err = errors.Join(json.Unmarshal(body, &p), json.Unmarshal(body, &doc))
		}
		if err == nil { // the body is what the OpenAPI document's callback says
			err = payloadSchema.VisitJSON(doc)
		}
		if err != nil {
			r.bad = append(r.bad, err.Error())
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.orders[req.Header.Get("webhook-id")] = p.Data.OrderID
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *hookReceiver) received() (orders map[string]int, requests int, bad []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	orders = map[string]int{}
	for _, o := range r.orders {
		orders[o]++
	}
	return orders, r.requests, append([]string(nil), r.bad...)
}

// subscribeHook makes a subscription through the API and returns its id and secret.
func subscribeHook(t *testing.T, base, url string) (id, secret string) {
	t.Helper()
	r := send(t, http.MethodPost, base+"/api/v1/webhooks", http.Header{"Content-Type": {"application/json"}},
		[]byte(`{"url": "`+url+`", "events": ["order.completed", "order.failed", "order.cancelled"], "description": "test"}`))
	if r.status != http.StatusCreated {
		t.Fatalf("create webhook: %d %s", r.status, r.body)
	}
	body := r.json(t)
	id, secret = body["webhookId"].(string), body["secret"].(string)
	if loc := r.header.Get("Location"); loc != "/api/v1/webhooks/"+id || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("Location %q, secret %q", loc, secret)
	}
	return id, secret
}

// TestWebhooksAPI: the subscription's operations through dev's API, and its https guard.
func TestWebhooksAPI(t *testing.T) {
	d := startDevWith(t, DevConfig{Rules: Rules{Webhooks: notification.Config{AllowPrivate: true}}})
	base := "http://" + d.Addr
	r := send(t, http.MethodPost, base+"/api/v1/webhooks", http.Header{"Content-Type": {"application/json"}},
		[]byte(`{"url": "http://127.0.0.1:1/x", "events": ["order.completed"]}`))
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "--webhook-allow-insecure") {
		t.Errorf("http:// target without --webhook-allow-insecure: %d %s", r.status, r.body)
	}
	id, _ := subscribeHook(t, base, "https://shop.example.com/hooks")
	if got := send(t, http.MethodGet, base+"/api/v1/webhooks/"+id, nil, nil); got.status != http.StatusOK ||
		got.json(t)["secret"] != nil || got.json(t)["enabled"] != true {
		t.Errorf("get: %d %s", got.status, got.body)
	}
	if got := send(t, http.MethodGet, base+"/api/v1/webhooks", nil, nil); got.status != http.StatusOK || !strings.Contains(string(got.body), id) {
		t.Errorf("list: %d %s", got.status, got.body)
	}
	rot := send(t, http.MethodPost, base+"/api/v1/webhooks/"+id+"/rotate-secret", nil, nil)
	if rot.status != http.StatusOK || !strings.HasPrefix(rot.json(t)["secret"].(string), "whsec_") {
		t.Errorf("rotate: %d %s", rot.status, rot.body)
	}
	if got := send(t, http.MethodGet, base+"/api/v1/webhooks/"+id+"/deliveries", nil, nil); got.status != http.StatusOK {
		t.Errorf("deliveries: %d %s", got.status, got.body)
	}
	if got := send(t, http.MethodDelete, base+"/api/v1/webhooks/"+id, nil, nil); got.status != http.StatusNoContent {
		t.Errorf("delete: %d %s", got.status, got.body)
	}
	if got := send(t, http.MethodGet, base+"/api/v1/webhooks/"+id, nil, nil); got.status != http.StatusNotFound {
		t.Errorf("get after delete: %d %s", got.status, got.body)
	}
}

// TestWebhooksSurviveSIGKILL kills `ordersys dev` (the order and notification services with it)
// while deliveries are in flight and orders are mid-saga, starts it again, and checks that every
// order's outcome reached the receiver, verified, under one webhook-id per order.
func TestWebhooksSurviveSIGKILL(t *testing.T) {
	dataDir, addr := t.TempDir(), freeAddr(t)
	args := append(devArgs(addr, dataDir), "--webhook-allow-insecure", "--webhook-allow-private", "--webhook-timeout", "1s")
	p := startProcess(t, "dev", devReady, args...)
	rec := newHookReceiver(t, 50*time.Millisecond)
	_, secret := subscribeHook(t, p.addr, rec.URL+"/hooks")
	rec.mu.Lock()
	rec.secret = secret
	rec.mu.Unlock()

	const n = 40
	ids := make(chan string, n)
	var placing sync.WaitGroup
	for c := range 4 {
		placing.Go(func() {
			for range n / 4 {
				ids <- placeOrder(t, p.addr, orderBody(customerFor(c), "SKU-1"))
			}
		})
	}
	poll(t, 60*time.Second, 20*time.Millisecond, func() (bool, string) {
		orders, _, _ := rec.received()
		return len(orders) >= 5, "deliveries before the kill"
	})
	placing.Wait()
	close(ids)
	p.crash(t)
	orders, requests, _ := rec.received()
	t.Logf("killed with %d of %d orders delivered (%d requests)", len(orders), n, requests)
	p.restart(t, devReady)

	var want []string
	for id := range ids {
		want = append(want, id)
	}
	waitHooks(t, rec, want, 90*time.Second)
	p.stop(t)
}

func customerFor(i int) string {
	return []string{"11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222",
		"33333333-3333-4333-8333-333333333333", "44444444-4444-4444-8444-444444444444"}[i]
}
