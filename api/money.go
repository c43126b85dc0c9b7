package api

import "github.com/shopspring/decimal"

// Amounts and quantities are exact decimals in Go and plain JSON numbers on the wire
// (1022.17, not "1022.17"), as the seed's API had them.
func init() { decimal.MarshalJSONWithoutQuotes = true }
