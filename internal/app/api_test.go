package app

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/asyncapitest"
	"github.com/ordersys/ordersys/internal/events"
)

func TestIdempotencyKey(t *testing.T) {
	d := startDev(t)
	base := "http://" + d.Addr
	customer := uuid.NewString()
	body := orderBody(customer, "SKU-1")

	t.Run("missing key", func(t *testing.T) {
		r := createOrder(t, base, "", body)
		if r.status != http.StatusBadRequest || r.header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("got %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
		}
	})

	t.Run("replay, reuse and concurrency", func(t *testing.T) {
		key := uuid.NewString()
		first := createOrder(t, base, key, body)
		if first.status != http.StatusCreated || first.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("first: %d %v %s", first.status, first.header, first.body)
		}
		again := createOrder(t, base, key, body)
		if again.status != http.StatusCreated || again.header.Get("Idempotent-Replayed") != "true" ||
			string(again.body) != string(first.body) {
			t.Errorf("replay: %d replayed=%q %s, want the first answer %s", again.status,
				again.header.Get("Idempotent-Replayed"), again.body, first.body)
		}
		other := createOrder(t, base, key, orderBody(customer, "SKU-2"))
		if other.status != http.StatusUnprocessableEntity {
			t.Errorf("same key, different body: %d %s, want 422", other.status, other.body)
		}

		// Concurrent requests with one fresh key: one order, every answer names it.
		key = uuid.NewString()
		const n = 16
		answers := make([]response, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { answers[i] = createOrder(t, base, key, body) })
		}
		wg.Wait()
		fresh := 0
		id := answers[0].json(t)["orderId"]
		for _, a := range answers {
			if a.status != http.StatusCreated || a.json(t)["orderId"] != id {
				t.Fatalf("concurrent answer %d %s, want 201 for order %v", a.status, a.body, id)
			}
			if a.header.Get("Idempotent-Replayed") == "" {
				fresh++
			}
		}
		if fresh != 1 {
			t.Errorf("%d answers were not replays, want 1", fresh)
		}
		list := do(t, http.MethodGet, base+"/api/v1/orders?customerId="+customer, "", "", nil).json(t)
		if list["total"].(float64) != 2 { // one from the first key, one from the concurrent key
			t.Errorf("customer has %v orders, want 2", list["total"])
		}
	})
}

// TestValidation sends bad requests: each is refused with the right status and names the bad
// field, and none writes an order.
func TestValidation(t *testing.T) {
	d := startDev(t)
	base := "http://" + d.Addr
	valid := orderBody(uuid.NewString(), "SKU-1")
	replace := func(old, new string) string { return strings.Replace(quickStart, old, new, 1) }
	cases := []struct {
		name        string
		contentType string
		body        string
		status      int
		fields      []string
	}{
		{"customer not a uuid", "", replace(`"67993c38-8059-4d8b-8567-1542560584ee"`, `"bob"`), 400, []string{"customerId"}},
		{"no items", "", replace(`"items":[`, `"items":[],"x":[`), 400, []string{"items", "x"}},
		{"sku with a space", "", replace(`"SKU-1"`, `"SKU 1"`), 400, []string{"items[0].sku"}},
		{"sku too long", "", replace(`"SKU-1"`, `"`+strings.Repeat("S", 65)+`"`), 400, []string{"items[0].sku"}},
		{"quantity zero", "", replace(`"quantity":33`, `"quantity":0`), 400, []string{"items[0].quantity"}},
		{"quantity negative", "", replace(`"quantity":33`, `"quantity":-1`), 400, []string{"items[0].quantity"}},
		{"quantity 4 fraction digits", "", replace(`"quantity":33`, `"quantity":1.0005`), 400, []string{"items[0].quantity"}},
		{"quantity a string", "", replace(`"quantity":33`, `"quantity":"33"`), 400, []string{"items[0].quantity"}},
		{"price negative", "", replace(`"unitPrice":25`, `"unitPrice":-25`), 400, []string{"items[1].unitPrice"}},
		{"price with 3 digits in USD", "", replace(`"unitPrice":19.99`, `"unitPrice":19.999`), 400, []string{"items[0].unitPrice"}},
		{"price with cents in JPY", "", replace(`"USD"`, `"JPY"`), 400, []string{"items[0].unitPrice"}},
		{"currency lower case", "", replace(`"USD"`, `"usd"`), 400, []string{"currency"}},
		{"currency unknown", "", replace(`"USD"`, `"XYZ"`), 400, []string{"currency"}},
		{"address without city", "", replace(`"city":"Austin",`, ``), 400, []string{"shippingAddress.city"}},
		{"unknown field", "", replace(`"currency"`, `"coupon":"FREE","currency"`), 400, []string{"coupon"}},
		{"unknown item field", "", replace(`"sku":"SKU-1",`, `"sku":"SKU-1","discount":1,`), 400, []string{"items[0].discount"}},
		{"malformed JSON", "", `{"customerId":`, 400, nil},
		{"not an object", "", `[1,2]`, 400, nil},
		{"empty body", "", ``, 400, nil},
		{"wrong content type", "text/plain", valid, 415, nil},
		{"a total that rounds to zero", "", `{"customerId":"67993c38-8059-4d8b-8567-1542560584ee","currency":"USD",
			"items":[{"sku":"SKU-1","quantity":0.001,"unitPrice":1.00}],
			"shippingAddress":{"country":"USA","city":"Austin","addressLine1":"Lincoln, 65"}}`, 422, nil},
		{"a charset other than UTF-8", "application/json; charset=latin1", valid, 415, nil},
		{"NUL in the city", "", replace(`"city":"Austin"`, `"city":"a\u0000b"`), 400, []string{"shippingAddress.city"}},
		{"control characters", "", replace(`"country":"USA"`, `"country":"US\u001bA"`), 400, []string{"shippingAddress.country"}},
		{"trailing garbage", "", valid + ` trailing garbage`, 400, nil},
		{"two objects", "", valid + `{}`, 400, nil},
		{"invalid UTF-8", "", replace(`"Austin"`, "\"Aus\xfftin\""), 400, nil},
		{"a lone surrogate", "", replace(`"Austin"`, `"Aus\ud800tin"`), 400, nil},
		{"too large", "", `{"customerId":"` + strings.Repeat("a", 1<<20) + `"}`, 413, nil},
		// Every bad field in one answer: the schema's, and the service's own (a quantity's and a
		// price's digits) that it checks only on a body the schema accepts.
		{"every bad field at once", "", `{"customerId":"bob","currency":"USD",
			"items":[{"sku":"SKU 1","quantity":0,"unitPrice":19.999},{"sku":"SKU-2","quantity":1.0005,"unitPrice":25}],
			"shippingAddress":{"country":"USA","addressLine1":"Lincoln, 65"}}`, 400,
			[]string{"customerId", "items[0].quantity", "items[0].sku", "items[0].unitPrice", "items[1].quantity", "shippingAddress.city"}},
		{"an unknown currency and a bad customer", "", strings.Replace(replace(`"USD"`, `"STX"`), `"67993c38-8059-4d8b-8567-1542560584ee"`, `"bob"`, 1),
			400, []string{"currency", "customerId"}},
		{"101 items", "", strings.Replace(valid, `"items":[`, `"items":[`+strings.Repeat(`{"sku":"A","quantity":1,"unitPrice":1},`, 100), 1), 400, []string{"items"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ct := c.contentType
			if ct == "" {
				ct = "application/json"
			}
			r := do(t, http.MethodPost, base+"/api/v1/orders/create", ct, uuid.NewString(), []byte(c.body))
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if got := r.header.Get("Content-Type"); got != "application/problem+json" {
				t.Errorf("Content-Type %q", got)
			}
			p := r.json(t)
			if p["status"].(float64) != float64(c.status) || p["type"] == "" || p["title"] == "" {
				t.Errorf("problem document incomplete: %s", r.body)
			}
			var fields []string
			if errs, ok := p["errors"].([]any); ok {
				for _, e := range errs {
					fields = append(fields, e.(map[string]any)["field"].(string))
				}
			}
			slices.Sort(fields)
			if c.fields != nil && !slices.Equal(fields, c.fields) {
				t.Errorf("fields %v, want %v: %s", fields, c.fields, r.body)
			}
		})
	}

	list := do(t, http.MethodGet, base+"/api/v1/orders", "", "", nil).json(t)
	if list["total"].(float64) != 0 {
		t.Errorf("bad requests wrote %v orders", list["total"])
	}

	for _, c := range []struct{ path, field string }{
		{"/api/v1/orders/not-a-uuid", "orderId"},
		{"/api/v1/orders?size=0", "size"},
		{"/api/v1/orders?page=4611686018427387905&size=2", "page"}, // (page-1)*size would overflow
		{"/api/v1/orders?status=DONE", "status"},
		{"/api/v1/orders?customerId=x", "customerId"},
	} {
		r := do(t, http.MethodGet, base+c.path, "", "", nil)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), `"field":"`+c.field+`"`) {
			t.Errorf("GET %s: %d %s, want 400 naming %s", c.path, r.status, r.body, c.field)
		}
	}
	if r := do(t, http.MethodGet, base+"/api/v1/orders/"+uuid.NewString(), "", "", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown order: %d %s", r.status, r.body)
	}
}

func TestDocs(t *testing.T) {
	d := startDev(t)
	base := "http://" + d.Addr
	spec := do(t, http.MethodGet, base+"/docs.json", "", "", nil)
	if spec.status != http.StatusOK || !strings.Contains(string(spec.body), `"/api/external/v1/orders/create"`) {
		t.Errorf("/docs.json: %d %.200s", spec.status, spec.body)
	}
	ui := do(t, http.MethodGet, base+"/docs/", "", "", nil)
	if ui.status != http.StatusOK || !strings.Contains(string(ui.body), "swagger") {
		t.Errorf("/docs/: %d %.200s", ui.status, ui.body)
	}
	// The event contract is served whole, not swallowed by Swagger UI's /docs/.
	async := do(t, http.MethodGet, base+"/docs/asyncapi.yaml", "", "", nil)
	if async.status != http.StatusOK || async.header.Get("Content-Type") != "application/yaml" {
		t.Errorf("/docs/asyncapi.yaml: %d %s %.200s", async.status, async.header.Get("Content-Type"), async.body)
	} else if c, err := asyncapitest.Parse(async.body); err != nil {
		t.Errorf("/docs/asyncapi.yaml: %v", err)
	} else if c.Doc["asyncapi"] != "3.0.0" || len(c.Messages) != len(events.Types()) {
		t.Errorf("/docs/asyncapi.yaml: asyncapi %v with %d messages, want 3.0.0 with %d", c.Doc["asyncapi"], len(c.Messages), len(events.Types()))
	}
	live := do(t, http.MethodGet, base+"/api/utility/liveness", "", "", nil)
	if live.status != http.StatusOK {
		t.Errorf("liveness: %d", live.status)
	}
}

// TestCreateAnswersLocation: both create paths answer 201 with the order's URL in Location, a
// replay too, and the URL reads the order.
func TestCreateAnswersLocation(t *testing.T) {
	d := startDev(t)
	base := "http://" + d.Addr
	for _, path := range []string{"/api/v1/orders/create", "/api/external/v1/orders/create"} {
		key := uuid.NewString()
		body := []byte(orderBody(uuid.NewString(), "SKU-1"))
		first := do(t, http.MethodPost, base+path, "application/json", key, body)
		again := do(t, http.MethodPost, base+path, "application/json", key, body)
		if first.status != http.StatusCreated || again.status != http.StatusCreated {
			t.Fatalf("POST %s: %d %s, again %d %s", path, first.status, first.body, again.status, again.body)
		}
		id := first.json(t)["orderId"].(string)
		want := "/api/v1/orders/" + id
		if got := first.header.Get("Location"); got != want {
			t.Errorf("POST %s: Location %q, want %q", path, got, want)
		}
		if got := again.header.Get("Location"); got != want {
			t.Errorf("POST %s replayed: Location %q, want %q", path, got, want)
		}
		if o := do(t, http.MethodGet, base+first.header.Get("Location"), "", "", nil); o.status != http.StatusOK || o.json(t)["orderId"] != id {
			t.Errorf("GET Location: %d %s", o.status, o.body)
		}
	}
}

// TestMethodNotAllowedSaysAllow: a method the path has no operation for is a 405 problem whose
// Allow header lists the methods it has.
func TestMethodNotAllowedSaysAllow(t *testing.T) {
	d := startDev(t)
	base := "http://" + d.Addr
	for _, c := range []struct{ method, path, allow string }{
		{http.MethodDelete, "/api/v1/orders", "GET"},
		{http.MethodPut, "/api/v1/orders/create", "POST"},
		{http.MethodGet, "/api/external/v1/orders/create", "POST"},
		{http.MethodPatch, "/api/v1/inventory/SKU-1", "GET, PUT"},
		{http.MethodDelete, "/api/v1/orders/" + uuid.NewString(), "GET"},
		{http.MethodPost, "/api/v1/admin/dlq", "GET"},
		{http.MethodPost, "/api/utility/liveness", "GET"},
	} {
		r := do(t, c.method, base+c.path, "", "", nil)
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: %d %s %s, want a 405 problem", c.method, c.path, r.status, r.header.Get("Content-Type"), r.body)
			continue
		}
		if got := r.header.Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
	}
}

// TestListsPage: the inventory and the dead letters page as the orders do: page and size in,
// {items, page, size, total} out, the sizes the orders take and no others.
func TestListsPage(t *testing.T) {
	d := startDev(t)
	base := "http://" + d.Addr
	sendMalformed(t, d.KafkaAddr, 3)
	waitDeadLetters(t, base, 3)

	page := func(path string) (items []string, p, size, total float64) {
		t.Helper()
		r := do(t, http.MethodGet, base+path, "", "", nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		body := r.json(t)
		for _, it := range body["items"].([]any) {
			m := it.(map[string]any)
			items = append(items, fmt.Sprint(cmp.Or(m["sku"], m["id"])))
		}
		return items, body["page"].(float64), body["size"].(float64), body["total"].(float64)
	}
	// dev stocks SKU-1 to SKU-20, listed in byte order.
	if items, p, size, total := page("/api/v1/inventory"); len(items) != 20 || p != 1 || size != 20 || total != 20 || items[1] != "SKU-10" {
		t.Errorf("inventory, default page: %v page %v size %v total %v", items, p, size, total)
	}
	if items, p, size, total := page("/api/v1/inventory?page=2&size=15"); !slices.Equal(items, []string{"SKU-5", "SKU-6", "SKU-7", "SKU-8", "SKU-9"}) ||
		p != 2 || size != 15 || total != 20 {
		t.Errorf("inventory, page 2 of 15: %v page %v size %v total %v", items, p, size, total)
	}
	if items, _, _, total := page("/api/v1/inventory?page=3&size=15"); len(items) != 0 || total != 20 {
		t.Errorf("inventory past the end: %v total %v", items, total)
	}
	var ids []string
	for n := 1; n <= 3; n++ {
		items, p, size, total := page(fmt.Sprintf("/api/v1/admin/dlq?topic=payments.commands.dlq&size=1&page=%d", n))
		if len(items) != 1 || p != float64(n) || size != 1 || total != 3 {
			t.Fatalf("dead letters, page %d of 1: %v page %v size %v total %v", n, items, p, size, total)
		}
		ids = append(ids, items[0])
	}
	if want := []string{"payments.commands.dlq:0:0", "payments.commands.dlq:0:1", "payments.commands.dlq:0:2"}; !slices.Equal(ids, want) {
		t.Errorf("dead letters paged one at a time: %v, want %v", ids, want)
	}
	if items, _, _, total := page("/api/v1/admin/dlq?page=2&size=2"); len(items) != 1 || total != 3 {
		t.Errorf("every dead letter, page 2 of 2: %v total %v", items, total)
	}
	for _, path := range []string{"/api/v1/inventory?size=101", "/api/v1/inventory?page=0", "/api/v1/admin/dlq?size=0", "/api/v1/admin/dlq?page=1000001"} {
		if r := do(t, http.MethodGet, base+path, "", "", nil); r.status != http.StatusBadRequest {
			t.Errorf("GET %s: %d %s, want 400", path, r.status, r.body)
		}
	}
}
