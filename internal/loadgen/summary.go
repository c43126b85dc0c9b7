package loadgen

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Summary is the result of a run: what Command prints and what tests assert.
type Summary struct {
	Target      string
	Rate        int           // requested orders per second
	Duration    time.Duration // requested send duration (0 when Orders was used)
	Orders      int           // requested order count (0 when Duration was used)
	Elapsed     time.Duration // wall time of the whole run, following included
	Interrupted bool          // ctx was cancelled before the run finished

	Sent      int64 // creates actually issued; drops are not sent
	Accepted  int64 // 201 with a usable body
	Completed int64 // followed to COMPLETED
	Failed    int64 // sum of Failures counts

	// AcceptedPerSec is Accepted over AcceptedWindow, the client time from
	// the first create sent to the last 201 received.
	AcceptedPerSec float64
	AcceptedWindow time.Duration
	// CompletedPerSec is Completed over CompletedWindow, the server time from
	// the earliest createdAt to the latest COMPLETED history timestamp.
	// One clock for both ends keeps client/server skew out of it.
	CompletedPerSec float64
	CompletedWindow time.Duration

	CreateLatency     LatencyStats // client side, every create that got an HTTP answer
	CreateToCompleted LatencyStats // server timestamps: COMPLETED history .at − createdAt

	Failures  []KindCount // by count, descending
	Anomalies []KindCount // contract oddities that are not order failures
}

// LatencyStats are percentiles from an HDR histogram (3 significant digits).
type LatencyStats struct {
	Count              int64
	P50, P90, P99, Max time.Duration
}

// KindCount is one failure kind, e.g. "create: HTTP 503" or
// "order FAILED: OUT_OF_STOCK".
type KindCount struct {
	Kind  string
	Count int64
}

func (r *runner) summarize(elapsed time.Duration, interrupted bool) Summary {
	s := r.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := Summary{
		Target:            r.cfg.Target,
		Rate:              r.cfg.Rate,
		Elapsed:           elapsed,
		Interrupted:       interrupted,
		Sent:              s.sent.Load(),
		Accepted:          s.accepted.Load(),
		Completed:         s.completed.Load(),
		Failed:            s.failed.Load(),
		CreateLatency:     latencyStats(s.createLatency),
		CreateToCompleted: latencyStats(s.createToCompleted),
		Failures:          sortedKinds(s.failures),
		Anomalies:         sortedKinds(s.anomalies),
	}
	if r.cfg.Orders > 0 {
		sum.Orders = r.cfg.Orders
	} else {
		sum.Duration = r.cfg.Duration
	}
	if sum.Accepted > 0 && s.lastAccepted.After(s.firstSent) {
		sum.AcceptedWindow = s.lastAccepted.Sub(s.firstSent)
		sum.AcceptedPerSec = float64(sum.Accepted) / sum.AcceptedWindow.Seconds()
	}
	if sum.Completed > 0 && s.lastCompletedAt.After(s.firstCreatedAt) {
		sum.CompletedWindow = s.lastCompletedAt.Sub(s.firstCreatedAt)
		sum.CompletedPerSec = float64(sum.Completed) / sum.CompletedWindow.Seconds()
	}
	return sum
}

func writeSummary(w io.Writer, s Summary) error {
	var b strings.Builder
	fmt.Fprintf(&b, "loadgen summary: %s\n", s.Target)
	status := ""
	if s.Interrupted {
		status = "  (interrupted)"
	}
	fmt.Fprintf(&b, "  duration            %s%s\n", s.Elapsed.Round(time.Millisecond), status)
	if s.Orders > 0 {
		fmt.Fprintf(&b, "  target rate         %d orders/s, %d orders\n", s.Rate, s.Orders)
	} else {
		fmt.Fprintf(&b, "  target rate         %d orders/s for %s\n", s.Rate, s.Duration)
	}
	fmt.Fprintf(&b, "  orders              sent %d  accepted %d  completed %d  failed %d\n",
		s.Sent, s.Accepted, s.Completed, s.Failed)
	fmt.Fprintf(&b, "  accepted/s          %s  (accepted ÷ client time from first create sent to last 201, %s)\n",
		perSec(s.AcceptedPerSec), s.AcceptedWindow.Round(time.Millisecond))
	fmt.Fprintf(&b, "  completed/s         %s  (completed ÷ server time from first createdAt to last COMPLETED, %s)\n",
		perSec(s.CompletedPerSec), s.CompletedWindow.Round(time.Millisecond))
	fmt.Fprintf(&b, "  create latency      %s  (client side, %d answered creates)\n",
		percentiles(s.CreateLatency), s.CreateLatency.Count)
	fmt.Fprintf(&b, "  create→COMPLETED    %s  (server timestamps, %d orders)\n",
		percentiles(s.CreateToCompleted), s.CreateToCompleted.Count)
	fmt.Fprintf(&b, "  failures            %d\n", s.Failed)
	writeKinds(&b, s.Failures)
	if len(s.Anomalies) > 0 {
		fmt.Fprintf(&b, "  anomalies\n")
		writeKinds(&b, s.Anomalies)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeKinds(b *strings.Builder, kinds []KindCount) {
	width := 0
	for _, k := range kinds {
		width = max(width, len(fmt.Sprint(k.Count)))
	}
	for _, k := range kinds {
		fmt.Fprintf(b, "    %*d  %s\n", width, k.Count, k.Kind)
	}
}

func percentiles(l LatencyStats) string {
	if l.Count == 0 {
		return "n/a"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s", ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max))
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func perSec(v float64) string {
	if v == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", v)
}
