package order

import (
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/events"
)

func TestOrderTotalQuickStart(t *testing.T) {
	scale, err := events.MinorUnit("USD")
	if err != nil || scale != 2 {
		t.Fatalf("events.MinorUnit(USD) = %d, %v; want 2", scale, err)
	}
	items := []Item{
		{SKU: "SKU-APPLE", Quantity: dec("33"), UnitPrice: dec("19.99")},
		{SKU: "SKU-COFFEE", Quantity: dec("14.50"), UnitPrice: dec("25")},
	}
	if got := lineTotal(items[0].Quantity, items[0].UnitPrice).String(); got != "659.67" {
		t.Errorf("33 x 19.99 = %s, want 659.67", got)
	}
	if got := lineTotal(items[1].Quantity, items[1].UnitPrice); !got.Equal(dec("362.5")) {
		t.Errorf("14.50 x 25 = %s, want 362.5", got)
	}
	if got := orderTotal(items, scale).String(); got != "1022.17" {
		t.Errorf("orderTotal(quick start) = %s, want 1022.17", got)
	}
	// Through newOrder as Create uses it, and as the stored/JSON form.
	o := newOrder(requestFromAPI(quickStart(uuid.New())))
	if got := o.Total.String(); got != "1022.17" {
		t.Errorf("newOrder(quick start).Total = %s, want 1022.17", got)
	}
	if got := o.Total.StringFixed(2); got != "1022.17" {
		t.Errorf("newOrder(quick start).Total fixed = %s, want 1022.17", got)
	}
}

func TestOrderTotalRounding(t *testing.T) {
	type line struct{ qty, price string }
	tests := []struct {
		name     string
		currency string
		lines    []line
		want     string // exact decimal string
	}{
		{"JPY half rounds up", "JPY", []line{{"1.5", "333"}}, "500"}, // 499.5
		{"JPY 2.5 rounds away, not to even", "JPY", []line{{"0.5", "5"}}, "3"},
		{"JPY below half rounds down", "JPY", []line{{"0.499", "1"}}, "0"},
		{"JPY whole", "JPY", []line{{"3", "1200"}, {"1", "50"}}, "3650"},
		{"KWD keeps 3 digits", "KWD", []line{{"2", "1.234"}}, "2.468"},
		{"KWD half rounds up", "KWD", []line{{"0.5", "0.001"}, {"1", "1.234"}}, "1.235"}, // 1.2345
		{"KWD below half", "KWD", []line{{"0.001", "1.4"}}, "0.001"},                     // 0.0014
		{"KWD at half", "KWD", []line{{"0.001", "1.5"}}, "0.002"},                        // 0.0015
		{"USD 0.125 away from zero, not to even", "USD", []line{{"0.125", "1"}}, "0.13"},
		{"USD 0.135", "USD", []line{{"0.135", "1"}}, "0.14"},
		{"USD 0.1249", "USD", []line{{"0.1", "1.24"}, {"0.009", "0.01"}}, "0.12"}, // 0.12409
		// Rounded once over the exact sum: three lines of 0.00333 are 0.00999, i.e. 0.01; rounding
		// each line first would give 0.00.
		{"USD rounds the sum once", "USD", []line{{"0.333", "0.01"}, {"0.333", "0.01"}, {"0.333", "0.01"}}, "0.01"},
		{"USD zero price", "USD", []line{{"2", "0"}}, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scale, err := events.MinorUnit(tt.currency)
			if err != nil {
				t.Fatalf("events.MinorUnit(%s): %v", tt.currency, err)
			}
			items := make([]Item, len(tt.lines))
			for i, l := range tt.lines {
				items[i] = Item{SKU: "S", Quantity: dec(l.qty), UnitPrice: dec(l.price)}
			}
			got := orderTotal(items, scale)
			if got.String() != tt.want {
				t.Errorf("orderTotal = %s, want %s", got, tt.want)
			}
			if -got.Exponent() > scale {
				t.Errorf("orderTotal = %s has exponent %d, more digits than %s's %d", got, got.Exponent(), tt.currency, scale)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	withItems := func(currency string, items ...api.OrderItemInput) *api.CreateOrderRequest {
		r := quickStart(uuid.MustParse("7f1c2b9e-3d4a-4b5c-8d6e-9f0a1b2c3d4e"))
		r.Currency = currency
		r.Items = items
		return r
	}
	item := func(qty, price string) api.OrderItemInput {
		return api.OrderItemInput{Sku: "SKU-1", Quantity: dec(qty), UnitPrice: dec(price)}
	}
	tests := []struct {
		name string
		req  *api.CreateOrderRequest
		want []string // field names, in order
	}{
		{"quick start is valid", quickStart(uuid.New()), nil},
		{"3-digit USD price", withItems("USD", item("33", "19.99"), item("14.50", "25.001")), []string{"items[1].unitPrice"}},
		{"USD price with a trailing zero is still 2 digits", withItems("USD", item("1", "19.990")), nil},
		{"4 fraction digits of quantity", withItems("USD", item("1.2345", "19.99")), []string{"items[0].quantity"}},
		{"3 fraction digits of quantity", withItems("USD", item("1.234", "19.99")), nil},
		{"quantity written with 4 digits, meaning 1", withItems("USD", item("14.5000", "25")), nil},
		{"zero quantity", withItems("USD", item("0", "19.99")), []string{"items[0].quantity"}},
		{"negative quantity", withItems("USD", item("-1", "19.99")), []string{"items[0].quantity"}},
		{"negative price", withItems("USD", item("1", "-0.01")), []string{"items[0].unitPrice"}},
		{"zero price", withItems("USD", item("1", "0")), nil},
		{"unknown currency", withItems("XYZ", item("1", "19.99")), []string{"currency"}},
		{"unknown currency: price digits are not judged", withItems("XYZ", item("1", "19.999")), []string{"currency"}},
		{"lower-case currency", withItems("usd", item("1", "19.99")), []string{"currency"}},
		{"JPY whole price", withItems("JPY", item("2", "1500")), nil},
		{"JPY fractional price", withItems("JPY", item("2", "1500.5")), []string{"items[0].unitPrice"}},
		{"KWD 3-digit price", withItems("KWD", item("1", "1.234")), nil},
		{"KWD 4-digit price", withItems("KWD", item("1", "1.2345")), []string{"items[0].unitPrice"}},
		{"every bad field at once", withItems("XYZ", item("0", "1"), item("1.2345", "-1"), item("1", "1")),
			[]string{"currency", "items[0].quantity", "items[1].quantity", "items[1].unitPrice"}},
		{"quantity and price of one line", withItems("USD", item("-2", "0.001")),
			[]string{"items[0].quantity", "items[0].unitPrice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := validate(requestFromAPI(tt.req))
			var got []string
			for _, e := range errs {
				got = append(got, e.Field)
				if e.Message == "" {
					t.Errorf("%s has no message", e.Field)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("validate fields = %q, want %q (errors %+v)", got, tt.want, errs)
			}
		})
	}
}
