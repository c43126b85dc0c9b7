package api_test

import (
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v4"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/asyncapitest"
	"github.com/ordersys/ordersys/internal/events"
)

// TestAsyncAPIDocument: asyncapi.yaml is YAML, AsyncAPI 3.0.x, and every message's headers, key
// and payload schema compiles.
func TestAsyncAPIDocument(t *testing.T) {
	var doc struct {
		AsyncAPI string `yaml:"asyncapi"`
	}
	if err := yaml.Unmarshal(api.AsyncAPI, &doc); err != nil {
		t.Fatalf("asyncapi.yaml: %v", err)
	}
	if !regexp.MustCompile(`^3\.0\.\d+$`).MatchString(doc.AsyncAPI) {
		t.Errorf("asyncapi: %q, want 3.0.x", doc.AsyncAPI)
	}
	if _, err := asyncapitest.Load(); err != nil {
		t.Fatal(err)
	}
}

// TestAsyncAPIDescribesEveryEventType: the document has a message for every event type the code
// knows, named as the Go type, on the topic the code publishes it to, and no other; and a dead-letter
// topic for every topic.
func TestAsyncAPIDescribesEveryEventType(t *testing.T) {
	c, err := asyncapitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range events.Types() {
		m := c.Messages[typ]
		switch {
		case m == nil:
			t.Errorf("%s (%s) is not in asyncapi.yaml", typ, typ.Name())
		case m.Name != typ.Name():
			t.Errorf("%s is message %s in asyncapi.yaml, want %s", typ, m.Name, typ.Name())
		case !slices.Equal(m.Topics, []string{typ.Topic()}):
			t.Errorf("%s is on %v in asyncapi.yaml; the code publishes it to %s", typ, m.Topics, typ.Topic())
		}
	}
	for typ, m := range c.Messages {
		if !events.Known(typ) {
			t.Errorf("asyncapi.yaml has message %s (%s), which the code does not know", m.Name, typ)
		}
	}
	var dlqs []string
	for _, topic := range events.AllTopics {
		dlqs = append(dlqs, events.DLQ(topic))
	}
	if got := slices.Sorted(slices.Values(c.DeadLetterTopics)); !slices.Equal(got, slices.Sorted(slices.Values(dlqs))) {
		t.Errorf("dead-letter topics in asyncapi.yaml: %v, want %v", got, dlqs)
	}
}

// examples holds a payload of every event type as the services make them.
var examples = func() map[events.Type]events.Payload {
	const order, customer = "0199a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b", "67993c38-8059-4d8b-8567-1542560584ee"
	const id = "3f0e9a5c-1b2d-4e6f-8a7b-9c0d1e2f3a4b"
	total := decimal.RequireFromString("1022.17")
	lines := []events.Line{{SKU: "SKU-1", Quantity: decimal.RequireFromString("33")},
		{SKU: "SKU-2", Quantity: decimal.RequireFromString("14.5")}}
	address := events.Address{Country: "USA", City: "Austin", AddressLine1: "Lincoln, 65", PostalCode: "73301"}
	all := []events.Payload{
		events.OrderCreated{OrderID: order, CustomerID: customer, Total: total, Currency: "USD"},
		events.OrderCompleted{OrderID: order, CustomerID: customer, Total: total, Currency: "USD"},
		events.OrderFailed{OrderID: order, CustomerID: customer, Reason: "PAYMENT_DECLINED", Detail: "over the limit",
			Total: &total, Currency: "USD"},
		events.OrderCancelled{OrderID: order, CustomerID: customer, Total: &total, Currency: "USD"},
		events.ChargePayment{OrderID: order, CustomerID: customer, Amount: total, Currency: "USD"},
		events.PaymentCharged{OrderID: order, PaymentID: id, Amount: total, Currency: "USD"},
		events.PaymentDeclined{OrderID: order, Reason: "CREDIT_LIMIT_EXCEEDED"},
		events.RefundPayment{OrderID: order, CustomerID: customer, Amount: decimal.Zero, Currency: "JPY"},
		events.PaymentRefunded{OrderID: order, RefundID: id},
		events.ReserveStock{OrderID: order, Lines: lines},
		events.StockReserved{OrderID: order, ReservationID: id},
		events.StockRejected{OrderID: order, SKU: "SKU-2", Reason: "INSUFFICIENT_STOCK"},
		events.ReleaseStock{OrderID: order},
		events.StockReleased{OrderID: order},
		events.CreateShipment{OrderID: order, CustomerID: customer, Address: address, Lines: lines},
		events.ShipmentCreated{OrderID: order, ShipmentID: id, Carrier: "UPS", TrackingNumber: "1Z3F0E9A5C1B2D4E6F"},
		events.ShipmentFailed{OrderID: order, Reason: "UNSUPPORTED_COUNTRY"},
		events.CancelShipment{OrderID: order},
		events.ShipmentCancelled{OrderID: order},
	}
	out := map[events.Type]events.Payload{}
	for _, p := range all {
		out[p.EventType()] = p
	}
	return out
}()

// TestAsyncAPIPayloadSchemas: each type's payload, as json.Marshal writes it, validates against its
// schema; without a property the Go type always writes it fails, without one it may omit it still
// validates; the schema's properties and required list are the Go type's JSON fields, nested
// objects included; and a bad value (an amount as a string, a non-UUID id) fails.
func TestAsyncAPIPayloadSchemas(t *testing.T) {
	c, err := asyncapitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range events.Types() {
		p, ok := examples[typ]
		if !ok {
			t.Errorf("no example payload of %s", typ)
			continue
		}
		m := c.Messages[typ]
		if m == nil {
			t.Errorf("%s is not in asyncapi.yaml", typ)
			continue
		}
		good, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(typ, good); err != nil {
			t.Errorf("%s %s: %v", typ, good, err)
		}
		var fields map[string]any
		if err := json.Unmarshal(good, &fields); err != nil {
			t.Fatal(err)
		}
		required := jsonFields(reflect.TypeOf(p))
		for name := range fields {
			without := withoutField(t, fields, name)
			err := c.Validate(typ, without)
			if required[name] && err == nil {
				t.Errorf("%s without %s validates: %s", typ, name, without)
			}
			if !required[name] && err != nil {
				t.Errorf("%s without the optional %s fails: %v", typ, name, err)
			}
		}
		sameFields(t, typ.Name(), reflect.TypeOf(p), m.Payload)
	}

	bad := map[events.Type]string{
		events.OrderCreatedType: `{"orderId":"0199a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b","customerId":"67993c38-8059-4d8b-8567-1542560584ee",
			"totalAmount":"1022.17","currency":"USD"}`, // an amount as a string
		events.ChargePaymentType: `{"orderId":"0199a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b","customerId":"67993c38-8059-4d8b-8567-1542560584ee",
			"amount":12,"currency":"usd"}`, // not an ISO 4217 code
		events.ReserveStockType: `{"orderId":"not-a-uuid","lines":[{"sku":"SKU-1","quantity":1}]}`,
		events.CreateShipmentType: `{"orderId":"0199a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b","address":{"country":"USA","city":"Austin"},
			"lines":[{"sku":"SKU-1","quantity":1}]}`, // no addressLine1
		events.StockReservedType: `{"orderId":"0199a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b","reservationId":7}`,
	}
	for typ, payload := range bad {
		if err := c.Validate(typ, []byte(payload)); err == nil {
			t.Errorf("bad %s validates: %s", typ, payload)
		}
	}
}

func withoutField(t *testing.T, fields map[string]any, name string) []byte {
	t.Helper()
	rest := map[string]any{}
	for k, v := range fields {
		if k != name {
			rest[k] = v
		}
	}
	b, err := json.Marshal(rest)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonFields maps the JSON names of struct type typ's fields to whether json.Marshal always writes
// them (neither omitempty nor omitzero).
func jsonFields(typ reflect.Type) map[string]bool {
	out := map[string]bool{}
	for f := range typ.Fields() {
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero")
	}
	return out
}

var marshaler = reflect.TypeFor[json.Marshaler]()

// sameFields fails unless schema s declares exactly the JSON fields of typ as properties, requires
// exactly those json.Marshal always writes, and does the same for the nested structs (and slices
// of them) that are not marshalled by their own method (decimal.Decimal is a number).
func sameFields(t *testing.T, at string, typ reflect.Type, s *jsonschema.Schema) {
	t.Helper()
	s = deref(s)
	fields := jsonFields(typ)
	var names, required []string
	for name, always := range fields {
		names = append(names, name)
		if always {
			required = append(required, name)
		}
	}
	var props []string
	for name := range s.Properties {
		props = append(props, name)
	}
	slices.Sort(names)
	slices.Sort(required)
	slices.Sort(props)
	if !slices.Equal(props, names) {
		t.Errorf("%s: asyncapi.yaml has properties %v; the Go type has %v", at, props, names)
	}
	if got := slices.Sorted(slices.Values(s.Required)); !slices.Equal(got, required) {
		t.Errorf("%s: asyncapi.yaml requires %v; the Go type always writes %v", at, got, required)
	}
	for f := range typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		prop := s.Properties[name]
		if prop == nil {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Slice {
			ft = ft.Elem()
			items, _ := deref(prop).Items.(*jsonschema.Schema)
			if items == nil {
				t.Errorf("%s.%s: asyncapi.yaml has no items schema for a list", at, name)
				continue
			}
			prop = items
		}
		if ft.Kind() == reflect.Struct && !ft.Implements(marshaler) {
			sameFields(t, at+"."+name, ft, prop)
		}
	}
}

// deref follows $refs to the schema they name.
func deref(s *jsonschema.Schema) *jsonschema.Schema {
	for s.Ref != nil {
		s = s.Ref
	}
	return s
}
