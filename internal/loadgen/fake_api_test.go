package loadgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// behavior is what the fake does with one create, chosen by arrival order.
type behavior int

const (
	completes behavior = iota
	reject503
	staysPending
	failsOutOfStock
	cancelled
)

// fakeAPI is an in-memory stand-in for the two endpoints the load tool uses.
// It validates every create against the contract and keeps what it saw so
// tests can compare the tool's summary with the server's view.
type fakeAPI struct {
	skus          int
	completeAfter time.Duration // terminal history entry is exactly createdAt + this
	completeStep  time.Duration // ... plus this times the create's arrival index mod 10
	createDelay   time.Duration
	behave        func(i int) behavior // nil: every order completes
	noWait        bool                 // ignore waitFor, as a server older than the long poll

	mu       sync.Mutex
	creates  []fakeCreate
	orders   map[string]*fakeOrder
	problems []string // contract violations seen in creates
}

type fakeCreate struct {
	key string
	at  time.Time
}

type fakeOrder struct {
	createdAt time.Time
	doneAfter time.Duration
	behavior  behavior
	gets      []time.Time
	longPolls int // GETs with waitFor=terminal and a valid timeout
}

func (f *fakeAPI) start(t *testing.T) *httptest.Server {
	t.Helper()
	f.orders = make(map[string]*fakeOrder)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/orders/create", f.create)
	mux.HandleFunc("GET /api/v1/orders/{id}", f.get)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func (f *fakeAPI) create(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key := r.Header.Get("Idempotency-Key")

	f.mu.Lock()
	i := len(f.creates)
	f.creates = append(f.creates, fakeCreate{key: key, at: time.Now()})
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.problems = append(f.problems, fmt.Sprintf("create %d: Content-Type %q", i, ct))
	}
	if k, err := uuid.Parse(key); err != nil || k.Version() != 4 || k.Variant() != uuid.RFC4122 {
		f.problems = append(f.problems, fmt.Sprintf("create %d: Idempotency-Key %q is not a uuid v4", i, key))
	}
	if err := validateCreateBody(body, f.skus); err != nil {
		f.problems = append(f.problems, fmt.Sprintf("create %d: %v: %s", i, err, body))
	}
	f.mu.Unlock()

	if f.createDelay > 0 {
		select {
		case <-time.After(f.createDelay):
		case <-r.Context().Done():
			return
		}
	}
	b := completes
	if f.behave != nil {
		b = f.behave(i)
	}
	if b == reject503 {
		http.Error(w, `{"error":"overloaded"}`, http.StatusServiceUnavailable)
		return
	}
	id := uuid.NewString()
	now := time.Now().UTC()
	f.mu.Lock()
	f.orders[id] = &fakeOrder{createdAt: now, behavior: b, doneAfter: f.completeAfter + time.Duration(i%10)*f.completeStep}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"orderId":%q,"status":"PENDING","totalAmount":42.5,"currency":"USD","createdAt":%q}`,
		id, now.Format(time.RFC3339Nano))
}

func (f *fakeAPI) get(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	f.mu.Lock()
	o := f.orders[r.PathValue("id")]
	if o != nil {
		o.gets = append(o.gets, now)
	}
	f.mu.Unlock()
	if o == nil {
		http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
		return
	}
	doneAt := o.createdAt.Add(o.doneAfter)
	if q := r.URL.Query(); !f.noWait && q.Get("waitFor") == "terminal" {
		timeout, err := time.ParseDuration(q.Get("timeout"))
		if err != nil || timeout <= 0 || timeout > 50*time.Second {
			http.Error(w, `{"error":"bad timeout"}`, http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		o.longPolls++
		f.mu.Unlock()
		until, wait := now.Add(timeout), "timeout"
		if o.behavior != staysPending && doneAt.Before(until) {
			until, wait = doneAt, "terminal"
		}
		select {
		case <-time.After(time.Until(until)):
		case <-r.Context().Done():
			return
		}
		now = time.Now()
		w.Header().Set("Order-Wait", wait)
	}
	type entry struct {
		Status string `json:"status"`
		At     string `json:"at"`
	}
	view := struct {
		OrderID       string  `json:"orderId"`
		Status        string  `json:"status"`
		CreatedAt     string  `json:"createdAt"`
		FailureReason string  `json:"failureReason,omitempty"`
		History       []entry `json:"history"`
	}{
		OrderID:   r.PathValue("id"),
		Status:    statusPending,
		CreatedAt: o.createdAt.Format(time.RFC3339Nano),
		History:   []entry{{statusPending, o.createdAt.Format(time.RFC3339Nano)}},
	}
	if o.behavior != staysPending && !now.Before(doneAt) {
		switch o.behavior {
		case completes:
			view.Status = statusCompleted
		case failsOutOfStock:
			view.Status, view.FailureReason = statusFailed, "OUT_OF_STOCK"
		case cancelled:
			view.Status, view.FailureReason = statusCancelled, "PAYMENT_DECLINED"
		}
		view.History = append(view.History, entry{view.Status, doneAt.Format(time.RFC3339Nano)})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(view)
}

func (f *fakeAPI) createCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.creates)
}

var skuPattern = regexp.MustCompile(`^SKU-([1-9][0-9]*)$`)

// validateCreateBody checks a create body against the API contract, strictly:
// unknown fields, wrong types or out-of-range values are all errors.
func validateCreateBody(body []byte, skus int) error {
	var req struct {
		CustomerID string `json:"customerId"`
		Items      []struct {
			SKU       string      `json:"sku"`
			Quantity  json.Number `json:"quantity"`
			UnitPrice json.Number `json:"unitPrice"`
		} `json:"items"`
		Currency        string `json:"currency"`
		ShippingAddress struct {
			Country      string `json:"country"`
			City         string `json:"city"`
			AddressLine1 string `json:"addressLine1"`
		} `json:"shippingAddress"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		return err
	}
	if _, err := uuid.Parse(req.CustomerID); err != nil {
		return fmt.Errorf("customerId %q: %v", req.CustomerID, err)
	}
	if n := len(req.Items); n < 1 || n > 3 {
		return fmt.Errorf("%d items, want 1-3", n)
	}
	seen := map[string]bool{}
	for _, it := range req.Items {
		m := skuPattern.FindStringSubmatch(it.SKU)
		if m == nil {
			return fmt.Errorf("sku %q", it.SKU)
		}
		if k, _ := strconv.Atoi(m[1]); k > skus {
			return fmt.Errorf("sku %q beyond SKU-%d", it.SKU, skus)
		}
		if seen[it.SKU] {
			return fmt.Errorf("sku %q twice", it.SKU)
		}
		seen[it.SKU] = true
		q, err := strconv.Atoi(it.Quantity.String())
		if err != nil || q < 1 || q > 5 {
			return fmt.Errorf("quantity %q, want integer 1-5", it.Quantity)
		}
		p, err := decimal.NewFromString(it.UnitPrice.String())
		if err != nil || !p.IsPositive() || !p.Round(2).Equal(p) {
			return fmt.Errorf("unitPrice %q, want > 0 with at most 2 decimals", it.UnitPrice)
		}
	}
	if req.Currency != "USD" {
		return fmt.Errorf("currency %q", req.Currency)
	}
	a := req.ShippingAddress
	if a.Country == "" || a.City == "" || a.AddressLine1 == "" {
		return errors.New("incomplete shippingAddress")
	}
	return nil
}
