package console

import (
	"encoding/json"
	"time"
)

// The API's answers as the console reads them: only the fields it shows, every optional one
// tolerated absent (an older server lacks step, state, headers and payload). Money and quantities
// stay json.Number, the API's exact decimals, never a float.

type step struct {
	Attempts    int        `json:"attempts"`
	MaxAttempts int        `json:"maxAttempts"`
	Deadline    *time.Time `json:"deadline"`
	WaitingFor  []string   `json:"waitingFor"`
}

type orderSummary struct {
	OrderID       string      `json:"orderId"`
	CustomerID    string      `json:"customerId"`
	Status        string      `json:"status"`
	FailureReason string      `json:"failureReason"`
	TotalAmount   json.Number `json:"totalAmount"`
	Currency      string      `json:"currency"`
	CreatedAt     time.Time   `json:"createdAt"`
	UpdatedAt     time.Time   `json:"updatedAt"`
	Step          *step       `json:"step"`
}

type orderPage struct {
	Items []orderSummary `json:"items"`
	Page  int            `json:"page"`
	Size  int            `json:"size"`
	Total int64          `json:"total"`
}

type orderCounts struct {
	Counts map[string]int64 `json:"counts"`
}

type orderItem struct {
	SKU       string      `json:"sku"`
	Quantity  json.Number `json:"quantity"`
	UnitPrice json.Number `json:"unitPrice"`
	LineTotal json.Number `json:"lineTotal"`
}

type address struct {
	Country      string `json:"country"`
	City         string `json:"city"`
	AddressLine1 string `json:"addressLine1"`
	AddressLine2 string `json:"addressLine2"`
	PostalCode   string `json:"postalCode"`
}

type historyEntry struct {
	Status string    `json:"status"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

type order struct {
	orderSummary
	Items           []orderItem    `json:"items"`
	ShippingAddress address        `json:"shippingAddress"`
	TraceID         string         `json:"traceId"`
	History         []historyEntry `json:"history"`
}

type cancelAccepted struct {
	OrderID string `json:"orderId"`
	Status  string `json:"status"`
}

type payment struct {
	PaymentID string      `json:"paymentId"`
	Kind      string      `json:"kind"`
	Amount    json.Number `json:"amount"`
	Currency  string      `json:"currency"`
	CreatedAt time.Time   `json:"createdAt"`
}

type reservation struct {
	ReservationID string            `json:"reservationId"`
	Status        string            `json:"status"`
	RejectedSKU   string            `json:"rejectedSku"`
	RejectReason  string            `json:"rejectReason"`
	Lines         []reservationLine `json:"lines"`
	CreatedAt     time.Time         `json:"createdAt"`
}

type reservationLine struct {
	SKU      string      `json:"sku"`
	Quantity json.Number `json:"quantity"`
}

type shipment struct {
	ShipmentID     string    `json:"shipmentId"`
	Carrier        string    `json:"carrier"`
	TrackingNumber string    `json:"trackingNumber"`
	Country        string    `json:"country"`
	CreatedAt      time.Time `json:"createdAt"`
}

type notification struct {
	NotificationID string    `json:"notificationId"`
	Kind           string    `json:"kind"`
	Recipient      string    `json:"recipient"`
	Message        string    `json:"message"`
	CreatedAt      time.Time `json:"createdAt"`
}

// list is the API's {"items": [...]} envelope.
type list[T any] struct {
	Items []T    `json:"items"`
	Total *int64 `json:"total"` // nil: the server sent everything, unpaged
}

type stockLevel struct {
	SKU       string      `json:"sku"`
	Available json.Number `json:"available"`
	Reserved  json.Number `json:"reserved"`
}

type deadLetter struct {
	ID                string            `json:"id"`
	Topic             string            `json:"topic"`
	OriginalTopic     string            `json:"originalTopic"`
	OriginalPartition int32             `json:"originalPartition"`
	OriginalOffset    int64             `json:"originalOffset"`
	Key               string            `json:"key"`
	EventID           string            `json:"eventId"`
	EventType         string            `json:"eventType"`
	Error             string            `json:"error"`
	Attempts          int               `json:"attempts"`
	Consumer          string            `json:"consumer"`
	DeadLetteredAt    time.Time         `json:"deadLetteredAt"`
	State             string            `json:"state"`
	StateAt           *time.Time        `json:"stateAt"`
	Headers           map[string]string `json:"headers"`
	Payload           json.RawMessage   `json:"payload"`
}

type health struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}
