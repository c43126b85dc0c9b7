package console

import (
	"cmp"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

func (c *Console) systemPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, http.StatusOK, "system-page", page{Title: "System", Nav: "system", Fragment: "/ui/fragments/system"})
}

// processView is one process's readiness.
type processView struct {
	URL, Services string
	Status        string // ok, unavailable, unreachable
	Checks        map[string]string
	Err           string
}

type named struct {
	Name  string
	Value float64
}

type rateNow struct {
	Outcome string
	PerSec  *float64
}

type systemView struct {
	Counts    []statusCount
	CountsErr string
	Processes []processView
	Rates     []rateNow
	P50, P99  *float64
	Window    time.Duration
	Backlog   []named
	Lag       []named
	// DeadLetters are those since the processes started (a counter), by consumer and topic.
	DeadLetters      []named
	DeadLettersTotal float64
	Failed           []string // processes whose metrics could not be read
	Sampled          bool
	Chart            chartData
	// ChartJSON is Chart for the page's script, in an attribute: htmx drops a fragment's <script>.
	ChartJSON string
}

// latencyWindow is how far back each point of the latency chart looks: a few samples, so that a
// quiet moment does not blank it.
const latencyWindow = 30 * time.Second

// systemFragment is the System page's data. Metrics and readiness are public, but the page is
// not: an admin API call (the counts) with the caller's token comes first, and a refusal shows
// the login prompt.
func (c *Console) systemFragment(w http.ResponseWriter, r *http.Request) {
	s := c.session(r)
	var counts orderCounts
	cntErr := s.get(svcOrder, "/api/v1/orders/counts", &counts)
	if notFound(cntErr) { // a server without counts: gate on a listing, which needs a token too
		var pg orderPage
		if err := s.get(svcOrder, "/api/v1/orders?size=1", &pg); err != nil {
			c.fail(w, r, err, false)
			return
		}
	} else if cntErr != nil { // refused, or not answered: either way nothing proves the caller may look
		c.fail(w, r, cntErr, false)
		return
	}
	v := systemView{Window: latencyWindow}
	v.Counts, v.CountsErr = countsView(counts, cntErr)

	procs := s.processes()
	own := ownURL(r)
	targets := make([]target, len(procs))
	v.Processes = make([]processView, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		targets[i] = target{url: p.URL, own: p.URL == own}
		wg.Go(func() { v.Processes[i] = s.readiness(p) })
	}
	samples := c.sampler.touch(r.Context(), targets)
	wg.Wait()

	v.Chart = chart(samples, c.sampler.every)
	if len(samples) > 0 {
		v.Sampled = true
		last := samples[len(samples)-1]
		v.Backlog, v.Lag, v.DeadLetters = sortedNamed(last.backlog), sortedNamed(last.lag), sortedNamed(last.deadLetters)
		for _, d := range v.DeadLetters {
			v.DeadLettersTotal += d.Value
		}
		for _, u := range slices.Sorted(maps.Keys(last.failed)) {
			v.Failed = append(v.Failed, u+": "+last.failed[u])
		}
		n := len(v.Chart.T) - 1
		for i, o := range v.Chart.Outcomes {
			v.Rates = append(v.Rates, rateNow{o, v.Chart.Rates[i][n]})
		}
		v.P50, v.P99 = seconds(v.Chart.P50[n]), seconds(v.Chart.P99[n])
	}
	chartJSON, err := json.Marshal(v.Chart)
	if err != nil {
		c.render(w, http.StatusInternalServerError, "error", err.Error())
		return
	}
	v.ChartJSON = string(chartJSON)
	c.render(w, http.StatusOK, "system", v)
}

// seconds is a chart's milliseconds back in seconds, for the ms template function.
func seconds(ms *float64) *float64 {
	if ms == nil {
		return nil
	}
	s := *ms / 1000
	return &s
}

// readiness asks a process's readiness probe.
func (s *session) readiness(p process) processView {
	v := processView{URL: p.URL, Services: strings.Join(p.Services, ", ")}
	var h health
	err := s.sendTo(http.MethodGet, v.Services, p.URL, "/api/utility/readiness", nil, nil, &h)
	var e *apiError
	switch {
	case err == nil:
	case errors.As(err, &e) && e.Status == http.StatusServiceUnavailable && json.Unmarshal(e.Body, &h) == nil && h.Status != "":
	default:
		v.Status, v.Err = "unreachable", err.Error()
		return v
	}
	v.Status, v.Checks = h.Status, h.Checks
	return v
}

func sortedNamed(m map[string]float64) []named {
	var out []named
	for k, v := range m {
		out = append(out, named{k, v})
	}
	slices.SortFunc(out, func(a, b named) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// chartData is the System page's series for uPlot, aligned with T (Unix seconds); null where a
// value is unknown (the first sample, a gap in sampling, a process restarted).
type chartData struct {
	T        []int64      `json:"t"`
	Outcomes []string     `json:"outcomes"`
	Rates    [][]*float64 `json:"rates"` // orders/s ended, by outcome
	P50      []*float64   `json:"p50"`   // create to terminal, ms, over the latencyWindow before
	P99      []*float64   `json:"p99"`
	Backlog  []*float64   `json:"backlog"` // outbox rows, all services
	Lag      []*float64   `json:"lag"`     // records behind, all consumer groups
}

// chart turns samples (taken every so often) into series.
func chart(samples []sample, every time.Duration) chartData {
	d := chartData{T: []int64{}, Outcomes: []string{"COMPLETED", "FAILED", "CANCELLED"}, P50: []*float64{}, P99: []*float64{},
		Backlog: []*float64{}, Lag: []*float64{}}
	for _, s := range samples {
		for o := range s.finished {
			if !slices.Contains(d.Outcomes, o) {
				d.Outcomes = append(d.Outcomes, o)
			}
		}
	}
	d.Rates = make([][]*float64, len(d.Outcomes))
	for i := range d.Rates {
		d.Rates[i] = []*float64{}
	}
	gap := 3 * every
	runStart := 0 // the first sample of the current run without gaps
	for i, s := range samples {
		d.T = append(d.T, s.at.Unix())
		if i > 0 && s.at.Sub(samples[i-1].at) > gap {
			runStart = i
		}
		for k, o := range d.Outcomes {
			var r *float64
			if i > runStart {
				if dv := s.finished[o] - samples[i-1].finished[o]; dv >= 0 {
					r = ptr(dv / s.at.Sub(samples[i-1].at).Seconds())
				}
			}
			d.Rates[k] = append(d.Rates[k], r)
		}
		var p50, p99 *float64
		if i > runStart {
			j := i - 1
			for j > runStart && s.at.Sub(samples[j].at) < latencyWindow {
				j--
			}
			if delta := histogramDelta(samples[j].duration, s.duration); delta != nil {
				p50, p99 = scaled(quantile(0.5, delta), 1000), scaled(quantile(0.99, delta), 1000)
			}
		}
		d.P50, d.P99 = append(d.P50, p50), append(d.P99, p99)
		d.Backlog = append(d.Backlog, ptr(sum(s.backlog)))
		d.Lag = append(d.Lag, ptr(sum(s.lag)))
	}
	return d
}

func ptr(v float64) *float64 { return &v }

func scaled(v *float64, by float64) *float64 {
	if v == nil {
		return nil
	}
	return ptr(*v * by)
}

func sum(m map[string]float64) float64 {
	var t float64
	for _, v := range m {
		t += v
	}
	return t
}

// histogramDelta is what a cumulative histogram counted between two samples; nil when nothing
// was, or when a count went down (a process restarted).
func histogramDelta(before, after map[float64]float64) map[float64]float64 {
	out := make(map[float64]float64, len(after))
	for b, n := range after {
		dv := n - before[b]
		if dv < 0 {
			return nil
		}
		out[b] = dv
	}
	if out[math.Inf(1)] <= 0 {
		return nil
	}
	return out
}

// quantile estimates the q-quantile of a histogram's counts (cumulative, by upper bound, +Inf
// the total) as Prometheus's histogram_quantile does: linearly within the bucket it falls in.
func quantile(q float64, buckets map[float64]float64) *float64 {
	total := buckets[math.Inf(1)]
	if total <= 0 {
		return nil
	}
	rank := q * total
	var lower, below float64
	for _, ub := range slices.Sorted(maps.Keys(buckets)) {
		n := buckets[ub]
		if n < rank {
			lower, below = ub, n
			continue
		}
		if math.IsInf(ub, 1) {
			return ptr(lower) // beyond the largest bound: that bound is all that is known
		}
		if n == below {
			return ptr(ub)
		}
		return ptr(lower + (ub-lower)*(rank-below)/(n-below))
	}
	return ptr(lower)
}
