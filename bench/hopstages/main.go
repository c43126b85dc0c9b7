// Command hopstages splits each hop of the saga into its stages, from two scrapes of every
// process's /metrics taken at the start and at the end of a run:
//
//	go run ./bench/hopstages -before DIR -after DIR
//
// Each DIR holds one scrape per process (any file names). The stages are the age of an event,
// from the time it was given in the transaction that wrote it, when its relay read it, when the
// broker acknowledged it, when a consumer's poll returned it and when that consumer's
// transaction committed (ordersys_outbox_event_age_seconds and
// ordersys_consumer_event_age_seconds). Quantiles are interpolated within the histograms'
// buckets, as Prometheus's histogram_quantile does. bench/topology.sh runs it.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// hops are the saga's hops in its order, by topic, and the consumer each ends in.
var hops = []struct{ topic, consumer, name string }{
	{"payments.commands", "payment", "order -> payment"},
	{"payments.events", "order-saga", "payment -> order"},
	{"inventory.commands", "inventory", "order -> inventory"},
	{"inventory.events", "order-saga", "inventory -> order"},
	{"fulfillment.commands", "fulfillment", "order -> fulfillment"},
	{"fulfillment.events", "order-saga", "fulfillment -> order"},
	{"orders.events", "notification", "order -> notification (lingers)"},
}

func main() {
	before := flag.String("before", "", "directory of the scrapes taken at the start")
	after := flag.String("after", "", "directory of the scrapes taken at the end")
	flag.Parse()
	if *before == "" || *after == "" {
		flag.Usage()
		os.Exit(2)
	}
	b, err := load(*before)
	if err == nil {
		var a map[string]bucketCounts
		if a, err = load(*after); err == nil {
			report(a, b)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hopstages:", err)
		os.Exit(1)
	}
}

// bucketCounts are one histogram's cumulative counts by upper bound.
type bucketCounts map[float64]float64

// key names a histogram series: family, topic, stage and consumer ("" for the relay's).
func key(family, topic, stage, consumer string) string {
	return strings.Join([]string{family, topic, stage, consumer}, "|")
}

const (
	outboxAge   = "ordersys_outbox_event_age_seconds"
	consumerAge = "ordersys_consumer_event_age_seconds"
)

func load(dir string) (map[string]bucketCounts, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		return nil, err
	}
	out := map[string]bucketCounts{}
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(r)
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, name := range []string{outboxAge, consumerAge} {
			for _, m := range families[name].GetMetric() {
				l := labels(m)
				k := key(name, l["topic"], l["stage"], l["consumer"])
				if out[k] == nil {
					out[k] = bucketCounts{}
				}
				for _, b := range m.GetHistogram().GetBucket() {
					if !math.IsInf(b.GetUpperBound(), 1) { // the text format lists +Inf; not every format does
						out[k][b.GetUpperBound()] += float64(b.GetCumulativeCount())
					}
				}
				out[k][math.Inf(1)] += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out, nil
}

func labels(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

// quantile interpolates q within the buckets of after minus before, as histogram_quantile.
func quantile(q float64, after, before bucketCounts) (float64, float64) {
	bounds := make([]float64, 0, len(after))
	for b := range after {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	total := after[math.Inf(1)] - before[math.Inf(1)]
	if total == 0 {
		return math.NaN(), 0
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range bounds {
		n := after[b] - before[b]
		if n >= rank {
			if math.IsInf(b, 1) {
				return lower, total // beyond the last bucket: its lower bound, as Prometheus
			}
			return lower + (b-lower)*(rank-below)/(n-below), total
		}
		lower, below = b, n
	}
	return math.NaN(), total
}

func report(after, before map[string]bucketCounts) {
	stages := []struct{ family, stage, title string }{
		{outboxAge, "read", "read by relay"},
		{outboxAge, "acknowledged", "broker ack"},
		{consumerAge, "fetched", "fetched"},
		{consumerAge, "applied", "applied"},
	}
	fmt.Println("Stages of each hop: an event's age (ms, p50 / p99) from its time in the transaction that wrote it")
	fmt.Printf("  %-32s", "hop")
	for _, s := range stages {
		fmt.Printf(" %17s", s.title)
	}
	fmt.Printf(" %8s\n", "events")
	for _, h := range hops {
		fmt.Printf("  %-32s", h.name)
		var events float64
		for _, s := range stages {
			consumer := ""
			if s.family == consumerAge {
				consumer = h.consumer
			}
			k := key(s.family, h.topic, s.stage, consumer)
			p50, n := quantile(.5, after[k], before[k])
			p99, _ := quantile(.99, after[k], before[k])
			if s.stage == "applied" {
				events = n
			}
			fmt.Printf(" %17s", fmt.Sprintf("%.1f / %.1f", 1000*p50, 1000*p99))
		}
		fmt.Printf(" %8.0f\n", events)
	}
	var unknown []string
	for k := range after {
		parts := strings.Split(k, "|")
		if !slices.ContainsFunc(hops, func(h struct{ topic, consumer, name string }) bool { return h.topic == parts[1] }) {
			unknown = append(unknown, parts[1])
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		fmt.Println("  (not shown: topics", strings.Join(slices.Compact(unknown), ", ")+")")
	}
}
