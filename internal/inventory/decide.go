package inventory

import (
	"fmt"
	"slices"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/events"
)

// want is one SKU of a reservation: the order's lines of that SKU, summed.
type want struct {
	sku   string
	milli int64
	// huge marks a quantity whose thousandths do not fit in an int64: no stock level can
	// satisfy it, so it is rejected without asking the database.
	huge bool
}

// wanted merges an order's lines by SKU (an order may list one SKU on several lines) and sorts
// them by SKU, so that every transaction locks stock rows in the same order. A line that no sender
// should ever produce (no SKU, a quantity that is not positive or has more than QuantityDigits
// fraction digits) is an error: the command is invalid and retrying cannot help.
func wanted(lines []events.Line) ([]want, error) {
	sums := map[string]decimal.Decimal{}
	for i, l := range lines {
		switch {
		case l.SKU == "":
			return nil, fmt.Errorf("lines[%d]: no SKU", i)
		case !l.Quantity.IsPositive():
			return nil, fmt.Errorf("lines[%d]: quantity %s is not positive", i, l.Quantity)
		case !l.Quantity.Shift(QuantityDigits).IsInteger():
			return nil, fmt.Errorf("lines[%d]: quantity %s has more than %d fraction digits", i, l.Quantity, QuantityDigits)
		}
		sums[l.SKU] = sums[l.SKU].Add(l.Quantity)
	}
	out := make([]want, 0, len(sums))
	for sku, q := range sums {
		m, err := toMilli(q)
		out = append(out, want{sku: sku, milli: m, huge: err != nil})
	}
	slices.SortFunc(out, func(a, b want) int { return strings.Compare(a.sku, b.sku) })
	return out, nil
}

// shortLine is the service's rule for a reservation: every line is taken or none is. It names the
// first line, in SKU order, that the stock levels cannot satisfy and why; reason is "" when every
// line can be taken.
func shortLine(levels map[string]level, lines []want) (sku, reason string) {
	for _, l := range lines {
		st := levels[l.sku]
		switch {
		case !st.exists:
			return l.sku, ReasonUnknownSKU
		case l.huge || st.available < l.milli:
			return l.sku, ReasonInsufficientStock
		}
	}
	return "", ""
}

// answer is the reply to every ReserveStock of an order once its reservation r exists; ok is
// false for a status no reservation should have.
func answer(orderID string, r *reservation) (p events.Payload, ok bool) {
	switch r.status {
	case StatusReserved, StatusConsumed:
		return events.StockReserved{OrderID: orderID, ReservationID: r.id}, true
	case StatusRejected:
		return events.StockRejected{OrderID: orderID, SKU: r.rejectSKU, Reason: r.rejectReason}, true
	case StatusReleased:
		// The saga has compensated this order already (a late or replayed command): nothing is
		// held for it, and nothing will be.
		return events.StockReleased{OrderID: orderID}, true
	}
	return nil, false
}
