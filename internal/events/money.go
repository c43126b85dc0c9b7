package events

import (
	"fmt"

	"golang.org/x/text/currency"
)

// MinorUnit is the number of fraction digits of an ISO 4217 currency (2 for USD, 0 for JPY,
// 3 for KWD), from the CLDR data that golang.org/x/text ships. Amounts in messages never have
// more than that many.
func MinorUnit(code string) (int32, error) {
	unit, err := currency.ParseISO(code)
	if err != nil || unit.String() != code {
		return 0, fmt.Errorf("%q is not an ISO 4217 currency code", code)
	}
	scale, _ := currency.Standard.Rounding(unit)
	return int32(scale), nil
}
