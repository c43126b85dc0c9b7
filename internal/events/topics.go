// Package events is the contract between the services: topics, the CloudEvents envelope, and
// the commands and events that carry an order through the saga.
package events

// Topics. Every message is keyed by order id, so one order's messages stay in one partition and
// in order.
const (
	TopicOrderEvents         = "orders.events"
	TopicPaymentCommands     = "payments.commands"
	TopicPaymentEvents       = "payments.events"
	TopicInventoryCommands   = "inventory.commands"
	TopicInventoryEvents     = "inventory.events"
	TopicFulfillmentCommands = "fulfillment.commands"
	TopicFulfillmentEvents   = "fulfillment.events"
)

// AllTopics lists every topic the services exchange, for creating them at start.
var AllTopics = []string{
	TopicOrderEvents,
	TopicPaymentCommands, TopicPaymentEvents,
	TopicInventoryCommands, TopicInventoryEvents,
	TopicFulfillmentCommands, TopicFulfillmentEvents,
}

// DLQ names the dead-letter topic of a consumed topic.
func DLQ(topic string) string { return topic + ".dlq" }
