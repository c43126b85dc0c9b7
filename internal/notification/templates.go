package notification

import (
	"text/template"

	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/events"
)

// templates holds one message template per kind, parsed once when the package loads (a template
// that does not parse stops the program at start, not at the first order). Each is executed with
// the event as its data: *events.OrderCompleted, *events.OrderFailed, *events.OrderCancelled.
var templates = map[string]*template.Template{
	KindOrderCompleted: parse(KindOrderCompleted,
		`Your order {{.OrderID}} is complete: {{amount .Total .Currency}} {{.Currency}} charged, and it is on its way.`),
	KindOrderFailed: parse(KindOrderFailed,
		`Your order {{.OrderID}} could not be completed: {{describe .Reason}} `+
			`(reason: {{.Reason}}{{with .Detail}}: {{.}}{{end}}). Anything charged for it has been refunded.`),
	KindOrderCancelled: parse(KindOrderCancelled,
		`Your order {{.OrderID}} has been cancelled. Anything charged for it has been refunded.`),
}

func parse(name, text string) *template.Template {
	return template.Must(template.New(name).Option("missingkey=error").Funcs(funcs).Parse(text))
}

var funcs = template.FuncMap{"describe": describe, "amount": amount}

// amount writes d with its currency's fraction digits, as a customer reads a price: 12.50, not
// 12.5. A code the order service let through is known; anything else is written as it came.
func amount(d decimal.Decimal, currency string) string {
	scale, err := events.MinorUnit(currency)
	if err != nil {
		return d.String()
	}
	return d.StringFixed(scale)
}

// describe says in words what a machine-readable failure reason means.
func describe(reason string) string {
	switch reason {
	case "PAYMENT_DECLINED":
		return "the payment was declined"
	case "OUT_OF_STOCK":
		return "an item is out of stock"
	case "SHIPMENT_FAILED":
		return "it cannot be shipped to the address given"
	case "TIMEOUT":
		return "it could not be processed in time"
	default:
		return "it could not be processed"
	}
}
