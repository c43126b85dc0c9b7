package payment

import (
	"errors"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/events"
)

// chargeReply is the answer to every ChargePayment of an order once its charge row r exists.
func chargeReply(r row) events.Payload {
	if r.status == statusSucceeded {
		return events.PaymentCharged{OrderID: r.orderID, PaymentID: r.id, Amount: r.amount, Currency: r.currency}
	}
	return events.PaymentDeclined{OrderID: r.orderID, Reason: r.reason}
}

// validate rejects a charge that no retry could make valid.
func validate(customer string, amount decimal.Decimal, currency string) error {
	if strings.TrimSpace(customer) == "" {
		return errors.New("customerId is required")
	}
	if strings.TrimSpace(currency) == "" {
		return errors.New("currency is required")
	}
	if _, err := toE4(amount); err != nil && !errors.Is(err, errTooLarge) {
		return fmt.Errorf("amount %s %w", amount, err)
	}
	return nil
}
