package notification_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/ordersys/ordersys/internal/errs"
	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/metrics"
	"github.com/ordersys/ordersys/internal/notification"
	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/storetest"
)

// receiver is a webhook endpoint: it verifies every delivery's signature with each of secrets,
// answers the first fail requests with failStatus, and keeps what it accepted by webhook-id.
type receiver struct {
	*httptest.Server
	mu         sync.Mutex
	secrets    []string
	fail       int
	failStatus int
	requests   int
	accepted   map[string][]byte // body by webhook-id, once accepted
	repeats    int               // accepted again under an id already accepted
	bad        []string          // what failed verification
	signatures []string          // every webhook-signature header seen
}

func newReceiver(t *testing.T, fail, failStatus int) *receiver {
	r := &receiver{fail: fail, failStatus: failStatus, accepted: map[string][]byte{}}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	r.signatures = append(r.signatures, req.Header.Get("webhook-signature"))
	if r.requests <= r.fail {
		w.WriteHeader(r.failStatus)
		return
	}
	for _, secret := range r.secrets {
		if err := verify(secret, req.Header, body); err != nil {
			r.bad = append(r.bad, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	id := req.Header.Get("webhook-id")
	if _, seen := r.accepted[id]; seen {
		r.repeats++
	}
	r.accepted[id] = body
	w.WriteHeader(http.StatusNoContent)
}

// verify checks a delivery twice: with the Standard Webhooks library, and by the specification's
// own words (HMAC-SHA256 of id.timestamp.body with the secret's bytes after whsec_, base64, v1,).
func verify(secret string, h http.Header, body []byte) error {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return err
	}
	if err := wh.Verify(body, h); err != nil {
		return err
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", h.Get("webhook-id"), h.Get("webhook-timestamp"), body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if sig == want {
			return nil
		}
	}
	return fmt.Errorf("no signature %s in %q", want, h.Get("webhook-signature"))
}

func (r *receiver) state() (accepted map[string][]byte, requests, repeats int, bad []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]byte{}
	for k, v := range r.accepted {
		out[k] = v
	}
	return out, r.requests, r.repeats, append([]string(nil), r.bad...)
}

// fastRetries are settings a test can wait out: loopback targets, over http, retried within
// milliseconds.
func fastRetries() notification.Config {
	return notification.Config{AllowInsecure: true, AllowPrivate: true, Timeout: 2 * time.Second,
		RetryBase: 10 * time.Millisecond, RetryCap: 40 * time.Millisecond}
}

// withDeliveries runs fn with a service configured by cfg, its delivery loop running.
func withDeliveries(t *testing.T, cfg notification.Config, m *metrics.Metrics, fn func(t *testing.T, db *sqlstore.DB, svc *notification.Service)) {
	storetest.Each(t, notification.Name, notification.Migrations, func(t *testing.T, db *sqlstore.DB) {
		svc := notification.New(db, cfg, nil, m)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); svc.RunDeliveries(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		fn(t, db, svc)
	})
}

func subscribe(t *testing.T, svc *notification.Service, url string, evs ...string) notification.Webhook {
	t.Helper()
	w, err := svc.Subscribe(t.Context(), notification.NewWebhook{URL: url, Events: evs})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	return w
}

func completed(order string) events.Payload {
	return &events.OrderCompleted{OrderID: order, CustomerID: uuid.NewString(), Total: decimal.RequireFromString("12.50"), Currency: "EUR"}
}

// waitDelivered waits for the subscription's one delivery to be recorded delivered (the receiver
// has it a moment before) and returns its id.
func waitDelivered(t *testing.T, svc *notification.Service, webhookID string) string {
	t.Helper()
	var id string
	waitFor(t, "the delivery recorded", 10*time.Second, func() bool {
		ds, _, err := svc.Deliveries(t.Context(), webhookID, 1, 10)
		if err != nil || len(ds) != 1 || ds[0].State != notification.DeliveryDelivered {
			return false
		}
		id = ds[0].ID
		return true
	})
	return id
}

// waitDisabled waits for the subscription to be disabled and returns it.
func waitDisabled(t *testing.T, svc *notification.Service, id string) notification.Webhook {
	t.Helper()
	var got notification.Webhook
	waitFor(t, "the subscription disabled", 10*time.Second, func() bool {
		var err error
		got, err = svc.Webhook(t.Context(), id)
		return err == nil && got.DisabledAt != nil
	})
	return got
}

func waitFor(t *testing.T, what string, timeout time.Duration, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWebhooksDeliverEveryEventOnce: a receiver failing its first answers still gets each
// subscribed event, signed, once per webhook-id; an event it did not subscribe to never comes.
func TestWebhooksDeliverEveryEventOnce(t *testing.T) {
	m := metrics.New("test")
	runs := 0
	withDeliveries(t, fastRetries(), m, func(t *testing.T, db *sqlstore.DB, svc *notification.Service) {
		runs++
		r := newReceiver(t, 3, http.StatusInternalServerError)
		w := subscribe(t, svc, r.URL+"/hooks", notification.EventOrderCompleted, notification.EventOrderFailed)
		r.secrets = []string{w.Secret}
		orders := map[string]string{}
		for range 3 {
			id := uuid.NewString()
			orders[id] = "COMPLETED"
			deliver(t, db, svc, id, completed(id))
			deliver(t, db, svc, id, completed(id)) // a re-published outcome makes no second delivery
		}
		failed := uuid.NewString()
		orders[failed] = "FAILED"
		deliver(t, db, svc, failed, &events.OrderFailed{OrderID: failed, CustomerID: uuid.NewString(), Reason: "OUT_OF_STOCK"})
		deliver(t, db, svc, uuid.NewString(), &events.OrderCancelled{OrderID: uuid.NewString(), CustomerID: uuid.NewString()})

		// Every delivery delivered, so nothing more will come, and every attempt recorded.
		waitFor(t, "every delivery", 10*time.Second, func() bool {
			ds, _, err := svc.Deliveries(t.Context(), w.ID, 1, 50)
			recorded := 0
			for _, d := range ds {
				if d.State != notification.DeliveryDelivered {
					return false
				}
				recorded += len(d.Attempts)
			}
			_, requests, _, _ := r.state()
			return err == nil && len(ds) == len(orders) && recorded == requests
		})
		accepted, requests, repeats, bad := r.state()
		if len(bad) > 0 || repeats > 0 || requests != 3+len(orders) || len(accepted) != len(orders) {
			t.Fatalf("%d requests, %d accepted, %d repeats, bad %v; want %d, %d, 0, none", requests, len(accepted), repeats, bad, 3+len(orders), len(orders))
		}
		for id, body := range accepted {
			var p struct {
				Type string
				Data struct {
					OrderID, Status, Reason, Currency string
					TotalAmount                       json.Number
				}
			}
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			if want := orders[p.Data.OrderID]; want == "" || p.Data.Status != want || p.Type != "order."+strings.ToLower(want) {
				t.Errorf("delivery %s: %s", id, body)
			}
			if p.Data.Status == "COMPLETED" && (p.Data.TotalAmount.String() != "12.5" || p.Data.Currency != "EUR") {
				t.Errorf("delivery %s: total %q %q, want 12.5 EUR", id, p.Data.TotalAmount, p.Data.Currency)
			}
		}

		deliveries, _, err := svc.Deliveries(t.Context(), w.ID, 1, 50)
		if err != nil {
			t.Fatal(err)
		}
		var attempts, failures int
		for _, d := range deliveries {
			if d.State != notification.DeliveryDelivered {
				t.Errorf("delivery %s is %s", d.ID, d.State)
			}
			if _, ok := accepted[d.ID]; !ok {
				t.Errorf("delivery %s listed, never accepted under its id", d.ID)
			}
			for _, a := range d.Attempts {
				attempts++
				if a.StatusCode == http.StatusInternalServerError && strings.Contains(a.Error, "500") {
					failures++
				}
			}
		}
		if len(deliveries) != len(orders) || attempts != requests || failures != 3 {
			t.Errorf("%d deliveries, %d attempts (%d failed) listed; want %d, %d (3)", len(deliveries), attempts, failures, len(orders), requests)
		}
	})
	// Each database ran the same deliveries.
	if delivered, retried := outcomes(t, m, notification.OutcomeDelivered), outcomes(t, m, notification.OutcomeRetry); delivered != float64(4*runs) || retried != float64(3*runs) {
		t.Errorf("ordersys_webhook_deliveries_total: delivered %v, retry %v; want %d and %d", delivered, retried, 4*runs, 3*runs)
	}
}

// outcomes is ordersys_webhook_deliveries_total{outcome} as m exposes it.
func outcomes(t *testing.T, m *metrics.Metrics, outcome string) float64 {
	t.Helper()
	families, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "ordersys_webhook_deliveries_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return s.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestWebhookGoneDisables: a 410 disables the subscription, and nothing more is sent to it.
func TestWebhookGoneDisables(t *testing.T) {
	withDeliveries(t, fastRetries(), nil, func(t *testing.T, db *sqlstore.DB, svc *notification.Service) {
		r := newReceiver(t, 1000, http.StatusGone)
		w := subscribe(t, svc, r.URL, notification.EventOrderCompleted)
		id := uuid.NewString()
		deliver(t, db, svc, id, completed(id))
		got := waitDisabled(t, svc, w.ID)
		if !strings.Contains(got.DisabledReason, "410") {
			t.Errorf("disabled for %q", got.DisabledReason)
		}
		next := uuid.NewString()
		deliver(t, db, svc, next, completed(next))
		time.Sleep(200 * time.Millisecond)
		if _, requests, _, _ := r.state(); requests != 1 {
			t.Errorf("%d requests, want the one answered 410", requests)
		}
		if _, err := svc.Resend(t.Context(), w.ID, uuid.NewString()); !isCode(err, errs.ENOTFOUND) {
			t.Errorf("resend of no delivery: %v, want not found", err)
		}
	})
}

// TestWebhookGivesUp: an endpoint failing for the whole budget is disabled, and its delivery
// failed; a resend of a delivered one sends it again under the same id.
func TestWebhookGivesUp(t *testing.T) {
	cfg := fastRetries()
	cfg.RetryFor = 300 * time.Millisecond
	cfg.Timeout = 200 * time.Millisecond
	withDeliveries(t, cfg, nil, func(t *testing.T, db *sqlstore.DB, svc *notification.Service) {
		down := newReceiver(t, 1000, http.StatusServiceUnavailable)
		w := subscribe(t, svc, down.URL, notification.EventOrderCompleted)
		id := uuid.NewString()
		deliver(t, db, svc, id, completed(id))
		got := waitDisabled(t, svc, w.ID)
		ds, _, err := svc.Deliveries(t.Context(), w.ID, 1, 10)
		if err != nil || len(ds) != 1 || ds[0].State != notification.DeliveryFailed || len(ds[0].Attempts) < 2 ||
			!strings.Contains(got.DisabledReason, "503") {
			t.Fatalf("deliveries %+v (%v), disabled for %q", ds, err, got.DisabledReason)
		}
		// The endpoint is fixed: resending the failed delivery enables the subscription again.
		down.mu.Lock()
		down.fail, down.secrets = 0, []string{w.Secret}
		down.mu.Unlock()
		if _, err := svc.Resend(t.Context(), w.ID, ds[0].ID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the resent delivery", 10*time.Second, func() bool { a, _, _, _ := down.state(); return len(a) == 1 })
		waitDelivered(t, svc, w.ID)
		if got, err := svc.Webhook(t.Context(), w.ID); err != nil || got.DisabledAt != nil {
			t.Errorf("after a resend: %+v (%v), want enabled", got, err)
		}
		if _, err := svc.Resend(t.Context(), w.ID, ds[0].ID); err != nil {
			t.Fatalf("a delivered delivery can be resent: %v", err)
		}

		up := newReceiver(t, 0, 0)
		w2 := subscribe(t, svc, up.URL, notification.EventOrderCompleted)
		up.secrets = []string{w2.Secret}
		second := uuid.NewString()
		deliver(t, db, svc, second, completed(second))
		if _, err := svc.Resend(t.Context(), w2.ID, waitDelivered(t, svc, w2.ID)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the resend", 10*time.Second, func() bool { _, _, repeats, _ := up.state(); return repeats == 1 })
	})
}

// TestWebhookSecretRotation: after a rotation each delivery is signed with both secrets, so a
// receiver holding either verifies it.
func TestWebhookSecretRotation(t *testing.T) {
	withDeliveries(t, fastRetries(), nil, func(t *testing.T, db *sqlstore.DB, svc *notification.Service) {
		r := newReceiver(t, 0, 0)
		w := subscribe(t, svc, r.URL, notification.EventOrderCompleted)
		secret, until, err := svc.RotateSecret(t.Context(), w.ID)
		if err != nil || secret == w.Secret || time.Until(until) < 23*time.Hour {
			t.Fatalf("rotate: %q until %v, %v", secret, until, err)
		}
		r.secrets = []string{w.Secret, secret}
		id := uuid.NewString()
		deliver(t, db, svc, id, completed(id))
		waitFor(t, "the delivery", 10*time.Second, func() bool { a, _, _, _ := r.state(); return len(a) == 1 })
		if _, _, _, bad := r.state(); len(bad) > 0 || len(strings.Fields(r.signatures[0])) != 2 {
			t.Errorf("signatures %q, bad %v", r.signatures, bad)
		}
	})
}

// TestWebhookPrivateAddresses: without AllowPrivate, a loopback target is refused at delivery,
// by address and by a name that resolves to it; with it, the name is delivered to.
func TestWebhookPrivateAddresses(t *testing.T) {
	r := newReceiver(t, 0, 0)
	port := r.Listener.Addr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port()
	resolve := func(_ context.Context, host string) ([]netip.Addr, error) {
		if host == "hooks.example.test" {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return nil, errors.New("no such host")
	}
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow-private=%v", allow), func(t *testing.T) {
			cfg := fastRetries()
			cfg.AllowPrivate, cfg.Resolve = allow, resolve
			cfg.RetryBase, cfg.RetryCap = time.Hour, time.Hour // one attempt each
			withDeliveries(t, cfg, nil, func(t *testing.T, db *sqlstore.DB, svc *notification.Service) {
				before, _, _, _ := r.state()
				byName := subscribe(t, svc, fmt.Sprintf("http://hooks.example.test:%d/x", port), notification.EventOrderCompleted)
				byAddr := subscribe(t, svc, r.URL, notification.EventOrderCompleted)
				id := uuid.NewString()
				deliver(t, db, svc, id, completed(id))
				for _, w := range []notification.Webhook{byName, byAddr} {
					var attempt notification.Attempt
					waitFor(t, "an attempt", 10*time.Second, func() bool {
						ds, _, err := svc.Deliveries(t.Context(), w.ID, 1, 1)
						if err != nil || len(ds) != 1 || len(ds[0].Attempts) == 0 {
							return false
						}
						attempt = ds[0].Attempts[0]
						return true
					})
					refused := strings.Contains(attempt.Error, "127.0.0.1 is not a public address")
					if allow == refused || allow != (attempt.StatusCode == http.StatusNoContent) {
						t.Errorf("%s: attempt %+v", w.URL, attempt)
					}
				}
				after, _, _, _ := r.state()
				if got, want := len(after)-len(before), map[bool]int{false: 0, true: 2}[allow]; got != want {
					t.Errorf("%d deliveries reached the receiver, want %d", got, want)
				}
			})
		})
	}
}

func TestWebhookSubscribeValidation(t *testing.T) {
	svc := notification.New(nil, notification.Config{}, nil, nil)
	_, err := svc.Subscribe(t.Context(), notification.NewWebhook{URL: "http://shop.example.com/h", Events: []string{"order.shipped", "order.completed", "x"}})
	var e *errs.Error
	if !errors.As(err, &e) || e.Code != errs.EINVALID || len(e.Fields) != 3 {
		t.Fatalf("got %v, want the url and two events reported together", err)
	}
	for _, url := range []string{"ftp://x/", "/relative", "https://user:pw@shop.example.com/", "https://"} {
		if _, err := svc.Subscribe(t.Context(), notification.NewWebhook{URL: url, Events: []string{"order.completed"}}); !isCode(err, errs.EINVALID) {
			t.Errorf("%q: %v, want invalid", url, err)
		}
	}
}

func isCode(err error, code errs.Code) bool {
	var e *errs.Error
	return errors.As(err, &e) && e.Code == code
}

// TestWebhookPruning: deliveries that ended are pruned with their attempts after KeepDeliveries;
// one still pending is kept however old.
func TestWebhookPruning(t *testing.T) {
	cfg := fastRetries()
	cfg.KeepDeliveries = time.Hour
	cfg.RetryBase, cfg.RetryCap = time.Hour, time.Hour // the failing endpoint is tried once
	withDeliveries(t, cfg, nil, func(t *testing.T, db *sqlstore.DB, svc *notification.Service) {
		up, down := newReceiver(t, 0, 0), newReceiver(t, 1000, http.StatusInternalServerError)
		delivered := subscribe(t, svc, up.URL, notification.EventOrderCompleted)
		pending := subscribe(t, svc, down.URL, notification.EventOrderCompleted)
		up.secrets = []string{delivered.Secret}
		id := uuid.NewString()
		deliver(t, db, svc, id, completed(id))
		waitFor(t, "both attempts recorded", 10*time.Second, func() bool {
			a, _, errA := svc.Deliveries(t.Context(), delivered.ID, 1, 10)
			b, _, errB := svc.Deliveries(t.Context(), pending.ID, 1, 10)
			return errA == nil && errB == nil && len(a) == 1 && len(b) == 1 &&
				a[0].State == notification.DeliveryDelivered && len(b[0].Attempts) == 1
		})
		if n, err := svc.PruneDeliveries(t.Context(), time.Now(), 10); err != nil || n != 0 {
			t.Fatalf("pruned %d (%v) of deliveries that ended just now", n, err)
		}
		n, err := svc.PruneDeliveries(t.Context(), time.Now().Add(2*time.Hour), 10)
		if err != nil || n != 1 {
			t.Fatalf("pruned %d deliveries (%v), want the delivered one", n, err)
		}
		var attempts int
		if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM webhook_attempts`).Scan(&attempts); err != nil || attempts != 1 {
			t.Errorf("%d attempts left (%v), want the pending delivery's one", attempts, err)
		}
		for w, want := range map[string]int{delivered.ID: 0, pending.ID: 1} {
			if ds, _, err := svc.Deliveries(t.Context(), w, 1, 10); err != nil || len(ds) != want {
				t.Errorf("%s: %d deliveries (%v), want %d", w, len(ds), err, want)
			}
		}
		ds, _, err := svc.Deliveries(t.Context(), pending.ID, 1, 10)
		if err != nil || len(ds) != 1 {
			t.Fatal(ds, err)
		}
		if _, err := svc.Resend(t.Context(), pending.ID, ds[0].ID); !isCode(err, errs.ECONFLICT) {
			t.Errorf("resend of a pending delivery: %v, want a conflict", err)
		}
	})
}

// TestWebhookPruningInBatches: batches smaller than what is due leave no attempt behind.
func TestWebhookPruningInBatches(t *testing.T) {
	cfg := fastRetries()
	cfg.KeepDeliveries = time.Hour
	withDeliveries(t, cfg, nil, func(t *testing.T, db *sqlstore.DB, svc *notification.Service) {
		r := newReceiver(t, 0, 0)
		w := subscribe(t, svc, r.URL, notification.EventOrderCompleted)
		r.secrets = []string{w.Secret}
		for range 3 {
			id := uuid.NewString()
			deliver(t, db, svc, id, completed(id))
		}
		waitFor(t, "the deliveries", 10*time.Second, func() bool {
			ds, _, err := svc.Deliveries(t.Context(), w.ID, 1, 10)
			return err == nil && len(ds) == 3 && ds[0].State == notification.DeliveryDelivered &&
				ds[1].State == notification.DeliveryDelivered && ds[2].State == notification.DeliveryDelivered
		})
		if n, err := svc.PruneDeliveries(t.Context(), time.Now().Add(2*time.Hour), 1); err != nil || n != 3 {
			t.Fatalf("pruned %d (%v), want 3", n, err)
		}
		var left int
		if err := db.QueryRowContext(t.Context(), `SELECT (SELECT COUNT(*) FROM webhook_attempts) + (SELECT COUNT(*) FROM webhook_deliveries)`).Scan(&left); err != nil || left != 0 {
			t.Errorf("%d rows left (%v)", left, err)
		}
	})
}
