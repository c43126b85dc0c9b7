package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// load places orders at a steady rate and cancels some of them right after they are created,
// keeping what the API answered: accepted ids (201), refusals, and requests whose answer never
// came (the order may or may not exist; its Idempotency-Key says, afterwards).
type load struct {
	base        string
	client      *http.Client
	cancelShare float64
	customers   []string

	rngMu sync.Mutex
	rng   *rand.Rand

	mu       sync.Mutex
	accepted []string
	unknown  []string       // Idempotency-Keys of creates with no answer
	failed   []string       // Idempotency-Keys of creates answered 5xx
	refused  map[string]int // by answer: "503", "connection refused", ...
	cancels  map[string]int // cancel requests by answer
}

// requestTimeout bounds a request: a process stopped for a few seconds answers within it.
const requestTimeout = 10 * time.Second

func newLoad(base string, cancelShare float64, seed uint64) *load {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	// A hundred customers, so that their credit accounts see many charges and refunds each.
	customers := make([]string, 100)
	for i := range customers {
		customers[i] = uuid.Must(uuid.NewRandomFromReader(rngReader{rng})).String()
	}
	return &load{
		base: base, cancelShare: cancelShare, customers: customers, rng: rng,
		client: &http.Client{Timeout: requestTimeout, Transport: &http.Transport{
			Proxy:               nil, // never route the load through a proxy from the environment
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 128,
		}},
		refused: map[string]int{}, cancels: map[string]int{},
	}
}

// rngReader feeds uuid from the run's seeded generator, so that a seed repeats the customers.
type rngReader struct{ r *rand.Rand }

func (r rngReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r.r.Uint32())
	}
	return len(p), nil
}

func (l *load) float() float64 {
	l.rngMu.Lock()
	defer l.rngMu.Unlock()
	return l.rng.Float64()
}

func (l *load) intN(n int) int {
	l.rngMu.Lock()
	defer l.rngMu.Unlock()
	return l.rng.IntN(n)
}

// run sends rate orders a second until the load's end, each in a goroutine of its own (a slow
// answer does not slow the offered rate), and returns once every request has its answer.
// Requests use reqCtx, not ctx: the end of the load must not cut off requests it already sent,
// which would leave their outcome unknown.
func (l *load) run(ctx, reqCtx context.Context, rate int, end time.Time) {
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
		if !at.Before(end) || !sleep(ctx, time.Until(at)) {
			break
		}
		wg.Go(func() { l.one(reqCtx) })
	}
	wg.Wait()
}

// one places an order and, for a share of them, cancels it after a moment short enough that the
// cancel lands in any step of the saga.
func (l *load) one(ctx context.Context) {
	key := uuid.NewString()
	status, body, err := l.post(ctx, "/api/v1/orders/create", key, l.order())
	l.mu.Lock()
	switch {
	case err != nil && refused(err):
		l.refused["connection refused"]++
	case err != nil:
		l.unknown = append(l.unknown, key)
	case status != http.StatusCreated:
		l.refused[strconv.Itoa(status)]++
		if status >= 500 {
			l.failed = append(l.failed, key)
		}
	}
	l.mu.Unlock()
	if err != nil || status != http.StatusCreated {
		return
	}
	var created struct {
		OrderID string `json:"orderId"`
	}
	if err := json.Unmarshal(body, &created); err != nil || created.OrderID == "" {
		l.mu.Lock()
		l.refused["201 without an orderId"]++
		l.mu.Unlock()
		return
	}
	l.mu.Lock()
	l.accepted = append(l.accepted, created.OrderID)
	l.mu.Unlock()
	if l.float() >= l.cancelShare {
		return
	}
	// Unloaded, an order takes some 30 to 100 ms from create to its end.
	sleep(ctx, time.Duration(l.intN(80))*time.Millisecond)
	status, _, err = l.post(ctx, "/api/v1/orders/"+created.OrderID+"/cancel", uuid.NewString(), nil)
	answer := strconv.Itoa(status)
	if err != nil {
		answer = "no answer"
	}
	l.mu.Lock()
	l.cancels[answer]++
	l.mu.Unlock()
}

func (l *load) post(ctx context.Context, path, key string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Idempotency-Key", key)
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		return 0, nil, err // the status came, the answer did not: its outcome is unknown
	}
	return resp.StatusCode, b.Bytes(), nil
}

// refused reports whether a request failed before the server could have read it.
func refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// order is a random valid order: 1 to 3 lines of the demo catalog, from one of the customers.
// A few take the saga's other paths: over the credit limit (declined), an unknown SKU (out of
// stock, refunded), a country fulfillment does not ship to (refunded and released).
func (l *load) order() []byte {
	type item struct {
		SKU       string      `json:"sku"`
		Quantity  json.Number `json:"quantity"`
		UnitPrice json.Number `json:"unitPrice"`
	}
	country := "USA"
	var items []item
	used := map[string]bool{}
	for range 1 + l.intN(3) {
		sku := "SKU-" + strconv.Itoa(1+l.intN(20))
		if used[sku] {
			continue
		}
		used[sku] = true
		items = append(items, item{SKU: sku, Quantity: number(decimal.New(int64(5*(1+l.intN(6))), -1)), // 0.5 to 3
			UnitPrice: number(decimal.New(int64(100+l.intN(3900)), -2))}) // 1.00 to 39.99
	}
	switch p := l.float(); {
	case p < 0.03:
		items[0].Quantity, items[0].UnitPrice = "2", "6000" // over a customer's whole credit limit
	case p < 0.05:
		items = append(items, item{SKU: "SKU-404", Quantity: "1", UnitPrice: "1"})
	case p < 0.08:
		country = "Atlantis"
	}
	b, _ := json.Marshal(map[string]any{
		"customerId": l.customers[l.intN(len(l.customers))],
		"items":      items,
		"currency":   "USD",
		"shippingAddress": map[string]string{"country": country, "city": "Austin",
			"addressLine1": fmt.Sprintf("Lincoln, %d", 1+l.intN(200))},
	})
	return b
}

func number(d decimal.Decimal) json.Number { return json.Number(d.String()) }

// failedKeys are the Idempotency-Keys of the creates answered 5xx so far.
func (l *load) failedKeys() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.failed...)
}

// snapshot returns what the load has seen so far.
func (l *load) snapshot() (accepted, unknown []string, refused, cancels map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	clone := func(m map[string]int) map[string]int {
		out := make(map[string]int, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return append([]string(nil), l.accepted...), append([]string(nil), l.unknown...), clone(l.refused), clone(l.cancels)
}
