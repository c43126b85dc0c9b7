// Package asyncapitest holds the code to the event contract, api/asyncapi.yaml: it compiles the
// document's schemas and checks Kafka records against them. Only tests import it (like pgtest).
package asyncapitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.yaml.in/yaml/v4"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/events"
)

// docURL is where the compiler files the document; $refs inside it resolve against it.
const docURL = "https://ordersys.invalid/asyncapi.yaml"

// Contract is the parsed document with its schemas compiled.
type Contract struct {
	// Doc is the document as JSON values (maps, slices, strings, json.Number...).
	Doc map[string]any
	// Messages are the CloudEvents messages by their ce_type.
	Messages map[events.Type]*Message
	// DeadLetter is the message of every dead-letter topic; DeadLetterTopics their addresses.
	DeadLetter       *Message
	DeadLetterTopics []string
}

// Message is one message of components.messages.
type Message struct {
	Name string      // its key under components.messages
	Type events.Type // the ce_type its headers pin ("" for the dead letter)
	// Topics are the addresses of the channels that carry it.
	Topics []string
	// Headers, Key and Payload are its compiled schemas (Payload nil when it declares none).
	Headers, Key, Payload *jsonschema.Schema
}

// Load parses the embedded document and compiles every message's schemas. Payload schemas are the
// AsyncAPI default, a superset of JSON Schema draft 07, and are compiled as draft 07.
func Load() (*Contract, error) {
	return Parse(api.AsyncAPI)
}

// Parse is Load for a document of the caller's.
func Parse(yamlDoc []byte) (*Contract, error) {
	var raw any
	if err := yaml.Unmarshal(yamlDoc, &raw); err != nil {
		return nil, fmt.Errorf("asyncapi.yaml is not YAML: %w", err)
	}
	// Through JSON, so the compiler sees the values it is made for (json.Number, not int).
	j, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("asyncapi.yaml is not JSON-compatible: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		return nil, err
	}
	root, ok := doc.(map[string]any)
	if !ok {
		return nil, errors.New("asyncapi.yaml is not a mapping")
	}
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft7)
	comp.AssertFormat()
	if err := comp.AddResource(docURL, root); err != nil {
		return nil, err
	}
	c := &Contract{Doc: root, Messages: map[events.Type]*Message{}}

	topics, err := channelTopics(root)
	if err != nil {
		return nil, err
	}
	messages, _ := dig(root, "components", "messages").(map[string]any)
	if len(messages) == 0 {
		return nil, errors.New("asyncapi.yaml has no components.messages")
	}
	for _, name := range slices.Sorted(maps.Keys(messages)) {
		m := &Message{Name: name, Topics: topics[name]}
		ptr := docURL + "#/components/messages/" + name
		if m.Headers, err = comp.Compile(ptr + "/headers"); err != nil {
			return nil, fmt.Errorf("message %s headers: %w", name, err)
		}
		keyPtr := ptr + "/bindings/kafka/key"
		if ref, ok := dig(messages[name], "traits", 0, "$ref").(string); ok {
			keyPtr = docURL + ref + "/bindings/kafka/key" // the events' key is their trait's
		}
		if m.Key, err = comp.Compile(keyPtr); err != nil {
			return nil, fmt.Errorf("message %s key: %w", name, err)
		}
		if dig(messages[name], "payload") != nil {
			if m.Payload, err = comp.Compile(ptr + "/payload"); err != nil {
				return nil, fmt.Errorf("message %s payload: %w", name, err)
			}
		}
		m.Type = events.Type(ceTypeOf(messages[name]))
		switch {
		case name == "DeadLetter":
			c.DeadLetter, c.DeadLetterTopics = m, m.Topics
		case m.Type == "":
			return nil, fmt.Errorf("message %s pins no ce_type in its headers", name)
		case c.Messages[m.Type] != nil:
			return nil, fmt.Errorf("messages %s and %s both have ce_type %s", c.Messages[m.Type].Name, name, m.Type)
		case m.Payload == nil:
			return nil, fmt.Errorf("message %s has no payload", name)
		default:
			c.Messages[m.Type] = m
		}
	}
	if c.DeadLetter == nil {
		return nil, errors.New("asyncapi.yaml has no DeadLetter message")
	}
	return c, nil
}

// channelTopics maps each message name to the addresses of the channels whose messages refer to it.
func channelTopics(root map[string]any) (map[string][]string, error) {
	channels, _ := root["channels"].(map[string]any)
	out := map[string][]string{}
	for _, id := range slices.Sorted(maps.Keys(channels)) {
		address, _ := dig(channels[id], "address").(string)
		msgs, _ := dig(channels[id], "messages").(map[string]any)
		if address == "" || len(msgs) == 0 {
			return nil, fmt.Errorf("channel %s has no address or no messages", id)
		}
		for _, m := range msgs {
			ref, _ := dig(m, "$ref").(string)
			name, ok := strings.CutPrefix(ref, "#/components/messages/")
			if !ok {
				return nil, fmt.Errorf("channel %s: message %v is not a reference to components.messages", id, m)
			}
			out[name] = append(out[name], address)
		}
	}
	return out, nil
}

// ceTypeOf is the ce_type a message's headers pin with const, in one of their allOf parts.
func ceTypeOf(msg any) string {
	parts, _ := dig(msg, "headers", "allOf").([]any)
	for _, p := range parts {
		if t, ok := dig(p, "properties", "ce_type", "const").(string); ok {
			return t
		}
	}
	return ""
}

// dig walks JSON values by map keys and slice indexes; nil when a step is missing.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			s, ok := v.([]any)
			if !ok || k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

// CheckRecord checks r, as read from its topic, against the document: on an event topic, the
// message its ce_type names must be carried by that topic, and its headers, key and payload must
// validate, with the key, ce_subject and the payload's orderId the same order id; on a dead-letter
// topic, its headers must be a dead letter's, naming the topic it came from. It returns the
// message it checked r against (nil if none).
func (c *Contract) CheckRecord(r *kgo.Record) (*Message, error) {
	headers := map[string]any{}
	var repeated []string
	for _, h := range r.Headers {
		if _, ok := headers[h.Key]; ok {
			repeated = append(repeated, h.Key)
		}
		headers[h.Key] = string(h.Value) // the last of repeated headers wins, as the consumers read them
	}
	if slices.Contains(c.DeadLetterTopics, r.Topic) {
		var errs []error
		if err := c.DeadLetter.Headers.Validate(headers); err != nil {
			errs = append(errs, fmt.Errorf("dead-letter headers: %w", err))
		}
		if err := c.DeadLetter.Key.Validate(string(r.Key)); err != nil {
			errs = append(errs, fmt.Errorf("key: %w", err))
		}
		if from, _ := headers["x-ordersys-original-topic"].(string); events.DLQ(from) != r.Topic {
			errs = append(errs, fmt.Errorf("dead letter on %s says it came from %q", r.Topic, from))
		}
		return c.DeadLetter, errors.Join(errs...)
	}

	ceType, _ := headers["ce_type"].(string)
	m := c.Messages[events.Type(ceType)]
	if m == nil {
		return nil, fmt.Errorf("ce_type %q is no message of the document", ceType)
	}
	var errs []error
	if len(repeated) > 0 {
		errs = append(errs, fmt.Errorf("repeated headers %v", repeated))
	}
	if !slices.Contains(m.Topics, r.Topic) {
		errs = append(errs, fmt.Errorf("%s on %s; the document carries it on %v", m.Name, r.Topic, m.Topics))
	}
	if err := m.Headers.Validate(headers); err != nil {
		errs = append(errs, fmt.Errorf("headers: %w", err))
	}
	if err := m.Key.Validate(string(r.Key)); err != nil {
		errs = append(errs, fmt.Errorf("key: %w", err))
	}
	payload, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.Value))
	if err != nil {
		return m, errors.Join(append(errs, fmt.Errorf("payload is not JSON: %w", err))...)
	}
	if err := m.Payload.Validate(payload); err != nil {
		errs = append(errs, fmt.Errorf("payload: %w", err))
	}
	orderID, _ := dig(payload, "orderId").(string)
	if subject, _ := headers["ce_subject"].(string); string(r.Key) != subject || orderID != subject {
		errs = append(errs, fmt.Errorf("key %q, ce_subject %q and orderId %q differ", r.Key, subject, orderID))
	}
	return m, errors.Join(errs...)
}

// Validate checks a payload, as JSON, against the schema of the message of type t.
func (c *Contract) Validate(t events.Type, payload []byte) error {
	m := c.Messages[t]
	if m == nil {
		return fmt.Errorf("%s is no message of the document", t)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return err
	}
	return m.Payload.Validate(v)
}
