package events

import (
	"errors"

	"github.com/shopspring/decimal"
)

// Type is a CloudEvents ce_type.
type Type string

// Topic is where events of this type are published.
func (t Type) Topic() string { return topics[t] }

// Payload is the data of one event or command type.
type Payload interface{ EventType() Type }

const (
	OrderCreatedType    Type = "ordersys.order.created.v1"
	OrderCompletedType  Type = "ordersys.order.completed.v1"
	ChargePaymentType   Type = "ordersys.payment.charge.v1"
	PaymentChargedType  Type = "ordersys.payment.charged.v1"
	ReserveStockType    Type = "ordersys.inventory.reserve.v1"
	StockReservedType   Type = "ordersys.inventory.reserved.v1"
	CreateShipmentType  Type = "ordersys.fulfillment.create.v1"
	ShipmentCreatedType Type = "ordersys.fulfillment.created.v1"
)

var topics = map[Type]string{
	OrderCreatedType:    TopicOrderEvents,
	OrderCompletedType:  TopicOrderEvents,
	ChargePaymentType:   TopicPaymentCommands,
	PaymentChargedType:  TopicPaymentEvents,
	ReserveStockType:    TopicInventoryCommands,
	StockReservedType:   TopicInventoryEvents,
	CreateShipmentType:  TopicFulfillmentCommands,
	ShipmentCreatedType: TopicFulfillmentEvents,
}

var registry = map[Type]func() Payload{
	OrderCreatedType:    func() Payload { return &OrderCreated{} },
	OrderCompletedType:  func() Payload { return &OrderCompleted{} },
	ChargePaymentType:   func() Payload { return &ChargePayment{} },
	PaymentChargedType:  func() Payload { return &PaymentCharged{} },
	ReserveStockType:    func() Payload { return &ReserveStock{} },
	StockReservedType:   func() Payload { return &StockReserved{} },
	CreateShipmentType:  func() Payload { return &CreateShipment{} },
	ShipmentCreatedType: func() Payload { return &ShipmentCreated{} },
}

// Line is one order line as the other services see it.
type Line struct {
	SKU      string          `json:"sku"`
	Quantity decimal.Decimal `json:"quantity"`
}

// Address is where an order ships.
type Address struct {
	Country      string `json:"country"`
	City         string `json:"city"`
	AddressLine1 string `json:"addressLine1"`
	AddressLine2 string `json:"addressLine2,omitempty"`
	PostalCode   string `json:"postalCode,omitempty"`
}

// OrderCreated: an order was accepted (PENDING).
type OrderCreated struct {
	OrderID    string          `json:"orderId"`
	CustomerID string          `json:"customerId"`
	Total      decimal.Decimal `json:"totalAmount"`
	Currency   string          `json:"currency"`
}

// OrderCompleted: the saga finished successfully.
type OrderCompleted struct {
	OrderID    string          `json:"orderId"`
	CustomerID string          `json:"customerId"`
	Total      decimal.Decimal `json:"totalAmount"`
	Currency   string          `json:"currency"`
}

// ChargePayment asks the payment service to charge the order's total.
type ChargePayment struct {
	OrderID    string          `json:"orderId"`
	CustomerID string          `json:"customerId"`
	Amount     decimal.Decimal `json:"amount"`
	Currency   string          `json:"currency"`
}

// PaymentCharged: the charge succeeded.
type PaymentCharged struct {
	OrderID   string          `json:"orderId"`
	PaymentID string          `json:"paymentId"`
	Amount    decimal.Decimal `json:"amount"`
	Currency  string          `json:"currency"`
}

// ReserveStock asks the inventory service to reserve every line, or none.
type ReserveStock struct {
	OrderID string `json:"orderId"`
	Lines   []Line `json:"lines"`
}

// StockReserved: every line is reserved.
type StockReserved struct {
	OrderID       string `json:"orderId"`
	ReservationID string `json:"reservationId"`
}

// CreateShipment asks the fulfillment service to ship the order.
type CreateShipment struct {
	OrderID string  `json:"orderId"`
	Address Address `json:"address"`
	Lines   []Line  `json:"lines"`
}

// ShipmentCreated: a carrier has the order.
type ShipmentCreated struct {
	OrderID        string `json:"orderId"`
	ShipmentID     string `json:"shipmentId"`
	Carrier        string `json:"carrier"`
	TrackingNumber string `json:"trackingNumber"`
}

func (OrderCreated) EventType() Type    { return OrderCreatedType }
func (OrderCompleted) EventType() Type  { return OrderCompletedType }
func (ChargePayment) EventType() Type   { return ChargePaymentType }
func (PaymentCharged) EventType() Type  { return PaymentChargedType }
func (ReserveStock) EventType() Type    { return ReserveStockType }
func (StockReserved) EventType() Type   { return StockReservedType }
func (CreateShipment) EventType() Type  { return CreateShipmentType }
func (ShipmentCreated) EventType() Type { return ShipmentCreatedType }

var errNoOrderID = errors.New("orderId is required")

// Every payload names its order; a message without one can never be applied and is dead-lettered.
func (p *OrderCreated) validate() error    { return requireOrder(p.OrderID) }
func (p *OrderCompleted) validate() error  { return requireOrder(p.OrderID) }
func (p *ChargePayment) validate() error   { return requireOrder(p.OrderID) }
func (p *PaymentCharged) validate() error  { return requireOrder(p.OrderID) }
func (p *ReserveStock) validate() error    { return requireOrder(p.OrderID) }
func (p *StockReserved) validate() error   { return requireOrder(p.OrderID) }
func (p *CreateShipment) validate() error  { return requireOrder(p.OrderID) }
func (p *ShipmentCreated) validate() error { return requireOrder(p.OrderID) }

func requireOrder(id string) error {
	if id == "" {
		return errNoOrderID
	}
	return nil
}
