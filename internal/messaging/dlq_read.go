package messaging

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"
	"github.com/twmb/franz-go/pkg/sasl"
)

// deadLetterRecord is a parsed dead letter with the record it came from.
type deadLetterRecord struct {
	DeadLetter
	record *kgo.Record
}

// readDeadLetters reads topics (every ".dlq" topic if none) from start to the current end offsets,
// and the states of their records.
func readDeadLetters(ctx context.Context, cl *kgo.Client, topics []string) ([]deadLetterRecord, error) {
	adm := kadm.NewClient(cl) // never closed: closing it would close cl
	if len(topics) == 0 {
		all, err := adm.ListTopics(ctx)
		if err != nil {
			return nil, fmt.Errorf("list topics: %w", err)
		}
		for _, td := range all.Sorted() {
			switch {
			case !strings.HasSuffix(td.Topic, dlqSuffix):
			case errors.Is(td.Err, kerr.UnknownTopicOrPartition):
				// A topic asked about before and found missing: the client's metadata cache
				// may still list it.
			case td.Err != nil:
				return nil, fmt.Errorf("list topics: %s: %w", td.Topic, td.Err)
			default:
				topics = append(topics, td.Topic)
			}
		}
		if len(topics) == 0 {
			return nil, nil
		}
	}
	recs, err := readTopics(ctx, cl, adm, topics)
	if err != nil {
		return nil, err
	}
	states, _, err := deadLetterStates(ctx, cl)
	if err != nil {
		return nil, err
	}
	out := make([]deadLetterRecord, len(recs))
	for i, r := range recs {
		out[i] = deadLetterRecord{DeadLetter: parseDeadLetter(r), record: r}
		out[i].applyState(states)
	}
	slices.SortFunc(out, func(a, b deadLetterRecord) int {
		return cmp.Or(a.DeadLetteredAt.Compare(b.DeadLetteredAt), cmp.Compare(a.Topic, b.Topic),
			cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	return out, nil
}

// readTopics reads every partition of topics from its start to the end offset it has when called.
// A partition counts as read once a record at or past its end offset minus one has arrived: the
// topics read here are written without transactions, and the last record of a partition survives
// compaction (the last of its key) and retention (in the active segment), so that record exists.
// Were the last offsets transaction markers, the read would only end with ctx.
func readTopics(ctx context.Context, cl *kgo.Client, adm *kadm.Client, topics []string) ([]*kgo.Record, error) {
	starts, ends, err := listOffsets(ctx, adm, topics)
	if err != nil {
		return nil, err
	}

	from := map[string]map[int32]kgo.Offset{}
	until := map[string]map[int32]int64{} // the end offset of each partition still to read
	pending := 0
	ends.Each(func(end kadm.ListedOffset) {
		start, ok := starts.Lookup(end.Topic, end.Partition)
		if !ok || start.Offset >= end.Offset {
			return // empty
		}
		if from[end.Topic] == nil {
			from[end.Topic], until[end.Topic] = map[int32]kgo.Offset{}, map[int32]int64{}
		}
		from[end.Topic][end.Partition] = kgo.NewOffset().At(start.Offset)
		until[end.Topic][end.Partition] = end.Offset
		pending++
	})
	if pending == 0 {
		return nil, nil
	}

	reader, err := newReader(cl, from)
	if err != nil {
		return nil, err
	}
	defer reader.Close()

	var out []*kgo.Record
	for pending > 0 {
		fetches := reader.PollFetches(ctx)
		if err := fetchErr(ctx, fetches); err != nil {
			return nil, fmt.Errorf("read %s (%d partition(s) not read to the end): %w", strings.Join(topics, ", "), pending, err)
		}
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			end, ok := until[p.Topic][p.Partition]
			if !ok {
				return // already read to its end
			}
			for _, r := range p.Records {
				if r.Offset < end {
					out = append(out, r)
				}
				// Offsets beyond end were produced after the call; offsets can skip (retention
				// removed the start meanwhile), so reaching end-1 or beyond is the test.
				if r.Offset >= end-1 {
					delete(until[p.Topic], p.Partition)
					pending--
					break
				}
			}
		})
	}
	return out, nil
}

// readOne reads the record at topic/partition/offset, or reports ErrDeadLetterNotFound.
func readOne(ctx context.Context, cl *kgo.Client, topic string, partition int32, offset int64) (*kgo.Record, error) {
	id := deadLetterID(topic, partition, offset)
	starts, ends, err := listOffsets(ctx, kadm.NewClient(cl), []string{topic})
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil, fmt.Errorf("%w: %s: no topic %s", ErrDeadLetterNotFound, id, topic)
	} else if err != nil {
		return nil, err
	}
	start, okStart := starts.Lookup(topic, partition)
	end, okEnd := ends.Lookup(topic, partition)
	switch {
	case !okStart || !okEnd:
		return nil, fmt.Errorf("%w: %s: topic %s has no partition %d", ErrDeadLetterNotFound, id, topic, partition)
	case offset < start.Offset || offset >= end.Offset:
		return nil, fmt.Errorf("%w: %s: partition %d of %s holds offsets [%d, %d)",
			ErrDeadLetterNotFound, id, partition, topic, start.Offset, end.Offset)
	}

	reader, err := newReader(cl, map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(offset)}})
	if err != nil {
		return nil, err
	}
	defer reader.Close()
	for {
		fetches := reader.PollFetches(ctx)
		if err := fetchErr(ctx, fetches); err != nil {
			return nil, fmt.Errorf("read dead letter %s: %w", id, err)
		}
		for _, r := range fetches.Records() {
			switch {
			case r.Offset == offset:
				return r, nil
			case r.Offset > offset: // removed (retention, compaction) since we looked
				return nil, fmt.Errorf("%w: %s: no record at that offset", ErrDeadLetterNotFound, id)
			}
		}
	}
}

// listOffsets lists the start and end offsets of topics. A topic that does not exist is reported
// as kerr.UnknownTopicOrPartition.
func listOffsets(ctx context.Context, adm *kadm.Client, topics []string) (starts, ends kadm.ListedOffsets, err error) {
	check := func(what string, offs kadm.ListedOffsets, err error) error {
		if err == nil {
			err = offs.Error()
		}
		if err == nil {
			return nil
		}
		var missing []string
		offs.Each(func(o kadm.ListedOffset) {
			// kadm's marker for a topic whose metadata failed to load
			if o.Partition == -1 && errors.Is(o.Err, kerr.UnknownTopicOrPartition) {
				missing = append(missing, o.Topic)
			}
		})
		if len(missing) > 0 {
			return fmt.Errorf("no topic %s: %w", strings.Join(missing, ", "), kerr.UnknownTopicOrPartition)
		}
		return fmt.Errorf("list %s offsets: %w", what, err)
	}
	starts, err = adm.ListStartOffsets(ctx, topics...)
	if err := check("start", starts, err); err != nil {
		return nil, nil, err
	}
	ends, err = adm.ListEndOffsets(ctx, topics...)
	if err := check("end", ends, err); err != nil {
		return nil, nil, err
	}
	return starts, ends, nil
}

// newReader returns a group-less client consuming exactly partitions, connected as cl is: to its
// seed brokers, with its client id, TLS or dialer, SASL, logger and protocol versions. Nothing else
// of cl carries over: its producer, consumer and group options would clash with direct partition
// consumption, and its hooks belong to it (kprom's metrics hook, say, serves one client: a second
// would register its collectors again, which panics, and unregister cl's when it closes).
func newReader(cl *kgo.Client, partitions map[string]map[int32]kgo.Offset) (*kgo.Client, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(optValue[[]string](cl, kgo.SeedBrokers)...)}
	if v := cl.OptValues(kgo.ClientID); len(v) == 2 && v[1] == true {
		opts = append(opts, kgo.ClientID(v[0].(string)))
	}
	if tc := optValue[*tls.Config](cl, kgo.DialTLSConfig); tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if dial := optValue[func(context.Context, string, string) (net.Conn, error)](cl, kgo.Dialer); dial != nil {
		opts = append(opts, kgo.Dialer(dial))
	}
	if mechs := optValue[[]sasl.Mechanism](cl, kgo.SASL); len(mechs) > 0 {
		opts = append(opts, kgo.SASL(mechs...))
	}
	if l := optValue[kgo.Logger](cl, kgo.WithLogger); l != nil {
		opts = append(opts, kgo.WithLogger(l))
	}
	if v := optValue[*kversion.Versions](cl, kgo.MaxVersions); v != nil {
		opts = append(opts, kgo.MaxVersions(v))
	}
	if v := optValue[*kversion.Versions](cl, kgo.MinVersions); v != nil {
		opts = append(opts, kgo.MinVersions(v))
	}
	opts = append(opts,
		kgo.ConsumePartitions(partitions),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), // if retention moved the start meanwhile
		kgo.FetchMaxWait(time.Second),
	)
	reader, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("dead-letter reader: %w", err)
	}
	return reader, nil
}

// optValue is cl's value of option opt, or T's zero value.
func optValue[T any](cl *kgo.Client, opt any) T {
	v, _ := cl.OptValue(opt).(T)
	return v
}

// fetchErr is the error that stops a bounded read: ctx ending, or a fetch error other than the
// informational data-loss notice (which kgo reports when an offset it was asked for is gone, and
// then carries on from the reset offset).
func fetchErr(ctx context.Context, fetches kgo.Fetches) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var errs []error
	fetches.EachError(func(topic string, partition int32, err error) {
		var loss *kgo.ErrDataLoss
		if !errors.As(err, &loss) {
			errs = append(errs, fmt.Errorf("%s/%d: %w", topic, partition, err))
		}
	})
	return errors.Join(errs...)
}
