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
	OrderCreatedType      Type = "ordersys.order.created.v1"
	OrderCompletedType    Type = "ordersys.order.completed.v1"
	OrderFailedType       Type = "ordersys.order.failed.v1"
	OrderCancelledType    Type = "ordersys.order.cancelled.v1"
	ChargePaymentType     Type = "ordersys.payment.charge.v1"
	PaymentChargedType    Type = "ordersys.payment.charged.v1"
	PaymentDeclinedType   Type = "ordersys.payment.declined.v1"
	RefundPaymentType     Type = "ordersys.payment.refund.v1"
	PaymentRefundedType   Type = "ordersys.payment.refunded.v1"
	ReserveStockType      Type = "ordersys.inventory.reserve.v1"
	StockReservedType     Type = "ordersys.inventory.reserved.v1"
	StockRejectedType     Type = "ordersys.inventory.rejected.v1"
	ReleaseStockType      Type = "ordersys.inventory.release.v1"
	StockReleasedType     Type = "ordersys.inventory.released.v1"
	CreateShipmentType    Type = "ordersys.fulfillment.create.v1"
	ShipmentCreatedType   Type = "ordersys.fulfillment.created.v1"
	ShipmentFailedType    Type = "ordersys.fulfillment.failed.v1"
	CancelShipmentType    Type = "ordersys.fulfillment.cancel.v1"
	ShipmentCancelledType Type = "ordersys.fulfillment.cancelled.v1"
)

var topics = map[Type]string{
	OrderCreatedType:      TopicOrderEvents,
	OrderCompletedType:    TopicOrderEvents,
	OrderFailedType:       TopicOrderEvents,
	OrderCancelledType:    TopicOrderEvents,
	ChargePaymentType:     TopicPaymentCommands,
	RefundPaymentType:     TopicPaymentCommands,
	PaymentChargedType:    TopicPaymentEvents,
	PaymentDeclinedType:   TopicPaymentEvents,
	PaymentRefundedType:   TopicPaymentEvents,
	ReserveStockType:      TopicInventoryCommands,
	ReleaseStockType:      TopicInventoryCommands,
	StockReservedType:     TopicInventoryEvents,
	StockRejectedType:     TopicInventoryEvents,
	StockReleasedType:     TopicInventoryEvents,
	CreateShipmentType:    TopicFulfillmentCommands,
	ShipmentCreatedType:   TopicFulfillmentEvents,
	ShipmentFailedType:    TopicFulfillmentEvents,
	CancelShipmentType:    TopicFulfillmentCommands,
	ShipmentCancelledType: TopicFulfillmentEvents,
}

var registry = map[Type]func() Payload{
	OrderCreatedType:      func() Payload { return &OrderCreated{} },
	OrderCompletedType:    func() Payload { return &OrderCompleted{} },
	OrderFailedType:       func() Payload { return &OrderFailed{} },
	OrderCancelledType:    func() Payload { return &OrderCancelled{} },
	ChargePaymentType:     func() Payload { return &ChargePayment{} },
	PaymentChargedType:    func() Payload { return &PaymentCharged{} },
	PaymentDeclinedType:   func() Payload { return &PaymentDeclined{} },
	RefundPaymentType:     func() Payload { return &RefundPayment{} },
	PaymentRefundedType:   func() Payload { return &PaymentRefunded{} },
	ReserveStockType:      func() Payload { return &ReserveStock{} },
	StockReservedType:     func() Payload { return &StockReserved{} },
	StockRejectedType:     func() Payload { return &StockRejected{} },
	ReleaseStockType:      func() Payload { return &ReleaseStock{} },
	StockReleasedType:     func() Payload { return &StockReleased{} },
	CreateShipmentType:    func() Payload { return &CreateShipment{} },
	ShipmentCreatedType:   func() Payload { return &ShipmentCreated{} },
	ShipmentFailedType:    func() Payload { return &ShipmentFailed{} },
	CancelShipmentType:    func() Payload { return &CancelShipment{} },
	ShipmentCancelledType: func() Payload { return &ShipmentCancelled{} },
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

// CreateShipment asks the fulfillment service to ship the order. CustomerID, the order's owner,
// is absent from commands sent before it existed.
type CreateShipment struct {
	OrderID    string  `json:"orderId"`
	CustomerID string  `json:"customerId,omitempty"`
	Address    Address `json:"address"`
	Lines      []Line  `json:"lines"`
}

// ShipmentCreated: a carrier has the order.
type ShipmentCreated struct {
	OrderID        string `json:"orderId"`
	ShipmentID     string `json:"shipmentId"`
	Carrier        string `json:"carrier"`
	TrackingNumber string `json:"trackingNumber"`
}

// OrderFailed: the saga ended without the order; Reason is machine-readable
// (PAYMENT_DECLINED, OUT_OF_STOCK, SHIPMENT_FAILED, TIMEOUT).
type OrderFailed struct {
	OrderID    string `json:"orderId"`
	CustomerID string `json:"customerId"`
	Reason     string `json:"reason"`
	Detail     string `json:"detail,omitempty"`
	// Total and Currency were added later: events written before them carry neither.
	Total    *decimal.Decimal `json:"totalAmount,omitempty"`
	Currency string           `json:"currency,omitempty"`
}

// OrderCancelled: the customer cancelled and every completed step was undone.
type OrderCancelled struct {
	OrderID    string `json:"orderId"`
	CustomerID string `json:"customerId"`
	// Total and Currency were added later: events written before them carry neither.
	Total    *decimal.Decimal `json:"totalAmount,omitempty"`
	Currency string           `json:"currency,omitempty"`
}

// PaymentDeclined: the charge was refused.
type PaymentDeclined struct {
	OrderID string `json:"orderId"`
	Reason  string `json:"reason"`
}

// RefundPayment asks the payment service to give the order's charge back (a no-op reply if
// there was none).
type RefundPayment struct {
	OrderID    string          `json:"orderId"`
	CustomerID string          `json:"customerId"`
	Amount     decimal.Decimal `json:"amount"`
	Currency   string          `json:"currency"`
}

// PaymentRefunded: the charge was given back, or there was none to give back.
type PaymentRefunded struct {
	OrderID  string `json:"orderId"`
	RefundID string `json:"refundId,omitempty"`
}

// StockRejected: not every line could be reserved; nothing was.
type StockRejected struct {
	OrderID string `json:"orderId"`
	SKU     string `json:"sku"`
	Reason  string `json:"reason"` // UNKNOWN_SKU or INSUFFICIENT_STOCK
}

// ReleaseStock asks the inventory service to give the order's reservation back (a no-op reply
// if there was none).
type ReleaseStock struct {
	OrderID string `json:"orderId"`
}

// StockReleased: the reservation was given back, or there was none.
type StockReleased struct {
	OrderID string `json:"orderId"`
}

// ShipmentFailed: the order cannot be shipped.
type ShipmentFailed struct {
	OrderID string `json:"orderId"`
	Reason  string `json:"reason"` // e.g. UNSUPPORTED_COUNTRY
}

// CancelShipment asks the fulfillment service not to ship the order. It follows the order's
// CreateShipment on the same partition, so it finds that command's decision made: a shipment made
// stands (the answer is ShipmentCreated again), and otherwise none will be made.
type CancelShipment struct {
	OrderID string `json:"orderId"`
}

// ShipmentCancelled: the order will not be shipped; a later CreateShipment is answered the same.
type ShipmentCancelled struct {
	OrderID string `json:"orderId"`
}

func (OrderCreated) EventType() Type      { return OrderCreatedType }
func (OrderFailed) EventType() Type       { return OrderFailedType }
func (OrderCancelled) EventType() Type    { return OrderCancelledType }
func (PaymentDeclined) EventType() Type   { return PaymentDeclinedType }
func (RefundPayment) EventType() Type     { return RefundPaymentType }
func (PaymentRefunded) EventType() Type   { return PaymentRefundedType }
func (StockRejected) EventType() Type     { return StockRejectedType }
func (ReleaseStock) EventType() Type      { return ReleaseStockType }
func (StockReleased) EventType() Type     { return StockReleasedType }
func (ShipmentFailed) EventType() Type    { return ShipmentFailedType }
func (OrderCompleted) EventType() Type    { return OrderCompletedType }
func (ChargePayment) EventType() Type     { return ChargePaymentType }
func (PaymentCharged) EventType() Type    { return PaymentChargedType }
func (ReserveStock) EventType() Type      { return ReserveStockType }
func (StockReserved) EventType() Type     { return StockReservedType }
func (CreateShipment) EventType() Type    { return CreateShipmentType }
func (ShipmentCreated) EventType() Type   { return ShipmentCreatedType }
func (CancelShipment) EventType() Type    { return CancelShipmentType }
func (ShipmentCancelled) EventType() Type { return ShipmentCancelledType }

var errNoOrderID = errors.New("orderId is required")

// Every payload names its order; a message without one can never be applied and is dead-lettered.
func (p *OrderCreated) validate() error      { return requireOrder(p.OrderID) }
func (p *OrderCompleted) validate() error    { return requireOrder(p.OrderID) }
func (p *ChargePayment) validate() error     { return requireOrder(p.OrderID) }
func (p *PaymentCharged) validate() error    { return requireOrder(p.OrderID) }
func (p *ReserveStock) validate() error      { return requireOrder(p.OrderID) }
func (p *StockReserved) validate() error     { return requireOrder(p.OrderID) }
func (p *CreateShipment) validate() error    { return requireOrder(p.OrderID) }
func (p *ShipmentCreated) validate() error   { return requireOrder(p.OrderID) }
func (p *OrderFailed) validate() error       { return requireOrder(p.OrderID) }
func (p *OrderCancelled) validate() error    { return requireOrder(p.OrderID) }
func (p *PaymentDeclined) validate() error   { return requireOrder(p.OrderID) }
func (p *RefundPayment) validate() error     { return requireOrder(p.OrderID) }
func (p *PaymentRefunded) validate() error   { return requireOrder(p.OrderID) }
func (p *StockRejected) validate() error     { return requireOrder(p.OrderID) }
func (p *ReleaseStock) validate() error      { return requireOrder(p.OrderID) }
func (p *StockReleased) validate() error     { return requireOrder(p.OrderID) }
func (p *ShipmentFailed) validate() error    { return requireOrder(p.OrderID) }
func (p *CancelShipment) validate() error    { return requireOrder(p.OrderID) }
func (p *ShipmentCancelled) validate() error { return requireOrder(p.OrderID) }

func requireOrder(id string) error {
	if id == "" {
		return errNoOrderID
	}
	return nil
}
