package order

import (
	"fmt"

	"github.com/shopspring/decimal"
	"golang.org/x/text/currency"
)

// minorUnit is the number of fraction digits of an ISO 4217 currency (2 for USD, 0 for JPY,
// 3 for KWD), from the CLDR data that golang.org/x/text ships.
func minorUnit(code string) (int32, error) {
	unit, err := currency.ParseISO(code)
	if err != nil || unit.String() != code {
		return 0, fmt.Errorf("%q is not an ISO 4217 currency code", code)
	}
	scale, _ := currency.Standard.Rounding(unit)
	return int32(scale), nil
}

// withinDigits reports whether d needs no more than n fraction digits: 14.50 fits in one.
func withinDigits(d decimal.Decimal, n int32) bool { return d.Equal(d.Truncate(n)) }

// lineTotal is quantity x unit price, exact.
func lineTotal(quantity, unitPrice decimal.Decimal) decimal.Decimal { return quantity.Mul(unitPrice) }

// orderTotal sums the exact line totals and rounds once, half away from zero, to the currency's
// minor unit: rounding each line first would let the total drift from what the lines say.
func orderTotal(lines []Item, scale int32) decimal.Decimal {
	sum := decimal.Zero
	for _, l := range lines {
		sum = sum.Add(lineTotal(l.Quantity, l.UnitPrice))
	}
	return sum.Round(scale)
}
