package messaging

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TopicRetention is how long the brokers keep a record, as ordersys counts on: EnsureTopics
// gives the topics no retention.ms of their own, so they keep the broker's log.retention.ms, 7
// days by default in Kafka and in the embedded broker. RetentionConfig.Validate refuses an inbox
// retention shorter than this.
const TopicRetention = 7 * 24 * time.Hour

// EnsureTopics creates the topics that do not exist yet, with the broker's default retention (see
// TopicRetention). Existing topics are left as they are.
func EnsureTopics(ctx context.Context, adm *kadm.Client, partitions int32, replicationFactor int16, topics ...string) error {
	resp, err := adm.CreateTopics(ctx, partitions, replicationFactor, nil, topics...)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for _, t := range resp.Sorted() {
		if t.Err != nil && !errors.Is(t.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t.Topic, t.Err)
		}
	}
	return nil
}
