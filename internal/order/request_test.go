package order

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/api"
)

// TestRequestHashGolden: an Idempotency-Key is stored with requestHash of its request, so the
// hash must never change, or a client retrying across an upgrade is refused as reusing its key.
// The wanted values were computed by the code before Request existed: sha256 of the API's
// CreateOrderRequest JSON, amounts normalized.
func TestRequestHashGolden(t *testing.T) {
	line2, postal, empty := "Apt 4", "62704", ""
	full := &api.CreateOrderRequest{
		CustomerId: uuid.MustParse("67993c38-8059-4d8b-8567-1542560584ee"),
		Currency:   "USD",
		Items: []api.OrderItemInput{
			{Sku: "SKU-APPLE", Quantity: dec("33.0"), UnitPrice: dec("19.990")},
			{Sku: "SKU-COFFEE", Quantity: dec("14.50"), UnitPrice: dec("25")},
		},
		ShippingAddress: api.Address{Country: "US", City: "Springfield", AddressLine1: "742 Evergreen Terrace",
			AddressLine2: &line2, PostalCode: &postal},
	}
	// No line 2, an empty postal code (not the same as none), text JSON escapes, a zero price.
	sparse := &api.CreateOrderRequest{
		CustomerId: full.CustomerId,
		Currency:   "JPY",
		Items:      []api.OrderItemInput{{Sku: "SKU-1", Quantity: dec("1500"), UnitPrice: dec("0.00")}},
		ShippingAddress: api.Address{Country: "JP", City: "Tōkyō \"東京\" <&>", AddressLine1: "1-1",
			PostalCode: &empty},
	}
	for _, c := range []struct {
		name string
		req  *api.CreateOrderRequest
		want string
	}{
		{"full", full, "52f8b28f5377c815e75e3dad9149954b9477fb4fa6209284780842eefd3d0b18"},
		{"sparse", sparse, "d7bd00d04af147804cfb03094ad53d5f2d84d6260e775f11acc27ab062fe4a94"},
	} {
		got, err := requestHash(requestFromAPI(c.req))
		if err != nil || got != c.want {
			t.Errorf("%s: requestHash = %s, %v; want %s", c.name, got, err, c.want)
		}
	}
}

// TestStoredAnswerFormat: the answers stored under Idempotency-Keys are the API's JSON, which
// keys stored before replay through.
func TestStoredAnswerFormat(t *testing.T) {
	id := uuid.MustParse("0190d1c4-7d3e-7a8b-9c0d-1e2f3a4b5c6d")
	at := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	for _, c := range []struct {
		name    string
		domain  any
		api     any
		want    string
		decoded any
	}{
		{"create", Created{CreatedAt: at, Currency: "USD", OrderID: id, Status: Pending, TotalAmount: dec("1022.17")},
			api.OrderCreated{CreatedAt: at, Currency: "USD", OrderId: id, Status: api.PENDING, TotalAmount: dec("1022.17")},
			`{"createdAt":"2025-01-02T03:04:05.000006Z","currency":"USD","orderId":"0190d1c4-7d3e-7a8b-9c0d-1e2f3a4b5c6d","status":"PENDING","totalAmount":1022.17}`,
			&Created{}},
		{"cancel", CancelAccepted{OrderID: id, Status: Compensating},
			api.CancelAccepted{OrderId: id, Status: api.COMPENSATING},
			`{"orderId":"0190d1c4-7d3e-7a8b-9c0d-1e2f3a4b5c6d","status":"COMPENSATING"}`,
			&CancelAccepted{}},
	} {
		got, err := json.Marshal(c.domain)
		if err != nil {
			t.Fatal(err)
		}
		old, err := json.Marshal(c.api)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != c.want || string(old) != c.want {
			t.Errorf("%s: stored %s, API %s; want %s", c.name, got, old, c.want)
		}
		// What was stored reads back as the same answer.
		if err := json.Unmarshal([]byte(c.want), c.decoded); err != nil {
			t.Fatal(err)
		}
		if again, _ := json.Marshal(c.decoded); string(again) != c.want {
			t.Errorf("%s: read back as %s", c.name, again)
		}
	}
}
