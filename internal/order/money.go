package order

import (
	"github.com/shopspring/decimal"
)

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
