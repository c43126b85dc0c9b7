package metrics

import (
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
)

// Kafka is the option that makes a franz-go client report its own metrics (connections, requests,
// bytes and records produced and fetched, by broker and topic) as ordersys_kafka_*, labelled with
// its client id. Each client needs its own: call it once per client.
func (m *Metrics) Kafka() []kgo.Opt {
	if m == nil {
		return nil
	}
	return []kgo.Opt{kgo.WithHooks(kprom.NewMetrics("ordersys_kafka", kprom.Registerer(m.reg), kprom.WithClientLabel()))}
}
