package loadgen

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Wire types of the order API, limited to the fields the load tool sends or
// needs back.

type orderItem struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
	// json.Number so the price goes out exactly as the decimal string
	// (19.99, 25) instead of through a float64 round trip.
	UnitPrice json.Number `json:"unitPrice"`
}

type shippingAddress struct {
	Country      string `json:"country"`
	City         string `json:"city"`
	AddressLine1 string `json:"addressLine1"`
}

type createOrderRequest struct {
	CustomerID      string          `json:"customerId"`
	Items           []orderItem     `json:"items"`
	Currency        string          `json:"currency"`
	ShippingAddress shippingAddress `json:"shippingAddress"`
}

type createOrderResponse struct {
	OrderID   string `json:"orderId"`
	Status    string `json:"status"`
	CreatedAt string `json:"createdAt"`
}

type historyEntry struct {
	Status string `json:"status"`
	At     string `json:"at"`
}

type orderView struct {
	OrderID       string         `json:"orderId"`
	Status        string         `json:"status"`
	CreatedAt     string         `json:"createdAt"`
	FailureReason string         `json:"failureReason"`
	History       []historyEntry `json:"history"`
}

const (
	statusPending   = "PENDING"
	statusCompleted = "COMPLETED"
	statusFailed    = "FAILED"
	statusCancelled = "CANCELLED"
)

func isTerminal(status string) bool {
	return status == statusCompleted || status == statusFailed || status == statusCancelled
}

var (
	cities  = []string{"Austin", "Boston", "Denver", "Seattle", "Chicago", "Portland", "Atlanta", "Phoenix"}
	streets = []string{"Lincoln", "Main", "Oak", "Maple", "Cedar", "Elm", "Pine", "Washington"}
)

// randomOrder builds a body that satisfies the contract: 1-3 items with
// distinct SKUs (a duplicate line could be rejected as a validation error
// and would then measure the validator, not the pipeline), quantities 1-5,
// prices with at most two decimals.
func randomOrder(skus int) createOrderRequest {
	n := 1 + rand.IntN(3)
	if n > skus {
		n = skus
	}
	items := make([]orderItem, 0, n)
	used := make([]int, 0, n)
	for len(items) < n {
		k := 1 + rand.IntN(skus)
		dup := false
		for _, u := range used {
			dup = dup || u == k
		}
		if dup {
			continue
		}
		used = append(used, k)
		cents := int64(100 + rand.IntN(49_900)) // 1.00 .. 499.99
		items = append(items, orderItem{
			SKU:       "SKU-" + strconv.Itoa(k),
			Quantity:  1 + rand.IntN(5),
			UnitPrice: json.Number(decimal.New(cents, -2).String()),
		})
	}
	return createOrderRequest{
		CustomerID: uuid.NewString(),
		Items:      items,
		Currency:   "USD",
		ShippingAddress: shippingAddress{
			Country:      "USA",
			City:         cities[rand.IntN(len(cities))],
			AddressLine1: streets[rand.IntN(len(streets))] + ", " + strconv.Itoa(1+rand.IntN(200)),
		},
	}
}
