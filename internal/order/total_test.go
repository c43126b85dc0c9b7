package order

import (
	"errors"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/errs"
)

func TestCheckTotal(t *testing.T) {
	d := decimal.RequireFromString
	for _, c := range []struct {
		name     string
		currency string
		items    []Item
		refused  bool
	}{
		{"a thousandth at one dollar", "USD", []Item{{SKU: "A", Quantity: d("0.001"), UnitPrice: d("1.00")}}, true},
		{"two lines that still round to zero", "USD", []Item{
			{SKU: "A", Quantity: d("0.001"), UnitPrice: d("1")}, {SKU: "B", Quantity: d("0.002"), UnitPrice: d("1")}}, true},
		{"half a cent rounds up", "USD", []Item{{SKU: "A", Quantity: d("0.005"), UnitPrice: d("1")}}, false},
		{"free goods", "USD", []Item{{SKU: "A", Quantity: d("1"), UnitPrice: d("0")}}, false},
		{"a yen's worth is one yen", "JPY", []Item{{SKU: "A", Quantity: d("0.5"), UnitPrice: d("1")}}, false},
		{"under half a yen", "JPY", []Item{{SKU: "A", Quantity: d("0.4"), UnitPrice: d("1")}}, true},
	} {
		err := checkTotal(Request{Currency: c.currency, Items: c.items})
		var e *errs.Error
		if got := errors.As(err, &e) && e.Code == errs.EREFUSED; got != c.refused {
			t.Errorf("%s: %v, want refused %v", c.name, err, c.refused)
		}
	}
}
