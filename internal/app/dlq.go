package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordersys/ordersys/internal/messaging"
)

const dlqUsage = `Usage:
  ordersys dlq list [--topic T] [--kafka-brokers B]
  ordersys dlq replay ID [--kafka-brokers B]
  ordersys dlq replay --all [--topic T] [--kafka-brokers B]

A replayed message keeps its event id, so replaying one that was already applied changes nothing.
Each dead letter is listed with its state: pending, replayed, or discarded (through the HTTP API,
POST /api/v1/admin/dlq/{id}/discard); a discarded one is not replayed, and --all leaves it.

Outbox rows the broker refused for good (topic ` + messaging.OutboxDLQ + `) are in the services' databases,
not on a topic: list and replay them with the HTTP API of a process that runs the service,
GET /api/v1/admin/dlq?topic=` + messaging.OutboxDLQ + ` and POST /api/v1/admin/dlq/{id}/replay.`

// errOutboxDeadLetters refuses the outbox dead letters, which the command cannot reach.
var errOutboxDeadLetters = errors.New("outbox dead letters (" + messaging.OutboxDLQ + ") are in the services' databases, " +
	"not on a topic: list and replay them with the HTTP API of a process that runs the service " +
	"(GET /api/v1/admin/dlq?topic=" + messaging.OutboxDLQ + ", POST /api/v1/admin/dlq/{id}/replay)")

// runDLQ lists and replays dead letters, talking to the brokers directly.
func runDLQ(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	if len(args) == 0 || (args[0] != "list" && args[0] != "replay") {
		fmt.Fprintln(stderr, dlqUsage)
		return ErrUsage
	}
	var brokers, topic string
	var all bool
	fs := newFlagSet("dlq "+args[0], getenv, stderr)
	fs.String(&brokers, "kafka-brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap brokers")
	fs.String(&topic, "topic", "", "only this dead-letter topic, e.g. payments.commands.dlq")
	if args[0] == "replay" {
		fs.Bool(&all, "all", false, "replay every dead letter (of --topic, if given)")
	}
	if err := fs.parse(args[1:], true); err != nil {
		return err
	}
	if topic == messaging.OutboxDLQ || (len(fs.Args()) == 1 && messaging.IsOutboxDeadLetterID(fs.Args()[0])) {
		return errOutboxDeadLetters
	}
	var topics []string
	if topic != "" {
		topics = []string{topic}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(splitList(brokers)...), kgo.ClientID("ordersys-dlq"),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	defer func() { err = brokerHint(err, brokers) }()

	switch {
	case args[0] == "list":
		if len(fs.Args()) > 0 {
			return fmt.Errorf("dlq list takes no arguments, got %q", fs.Args())
		}
		letters, err := messaging.ListDeadLetters(ctx, cl, topics)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tDEAD-LETTERED\tSTATE\tCONSUMER\tEVENT TYPE\tORDER\tATTEMPTS\tERROR")
		for _, dl := range letters {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", dl.ID, dl.DeadLetteredAt.Format(time.RFC3339),
				dl.State, dl.Consumer, dl.EventType, dl.Key, dl.Attempts, dl.Error)
		}
		w.Flush()
		fmt.Fprintf(stderr, "%d dead letters\n", len(letters))
		return nil
	case all:
		if len(fs.Args()) > 0 {
			return errors.New("dlq replay: give an ID or --all, not both")
		}
		n, discarded, err := messaging.ReplayAll(ctx, cl, topics)
		fmt.Fprintf(stdout, "replayed %d dead letters\n", n)
		if discarded > 0 {
			fmt.Fprintf(stdout, "left %d discarded dead letters alone\n", discarded)
		}
		return err
	case len(fs.Args()) == 1:
		dl, err := messaging.ReplayDeadLetter(ctx, cl, fs.Args()[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "replayed %s (%s for order %s) to %s\n", dl.ID, dl.EventType, dl.Key, dl.OriginalTopic)
		return nil
	default:
		fmt.Fprintln(stderr, dlqUsage)
		return ErrUsage
	}
}

// brokerHint says which flag or variable names the brokers when they cannot be reached: an
// operator who ran `ordersys dlq list` against the default learns where to point it.
func brokerHint(err error, brokers string) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return fmt.Errorf("cannot reach the Kafka brokers at %s (set --kafka-brokers or %s): %w",
			brokers, envName("kafka-brokers"), err)
	}
	return err
}
