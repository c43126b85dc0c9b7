package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// follow polls one accepted order until it is terminal, the order's follow
// window closes, or the run is interrupted. The first poll waits for the 90th
// percentile of create-to-COMPLETED latency seen so far (at least firstPoll),
// so that most orders take a single GET; later ones double up to maxPoll, and
// all polls share a budget per second. The load tool's own GETs compete with
// the system under test, and polling an order before it can be done, or more
// often than orders are created, only adds load. The latency itself comes from
// the server's timestamps, so it is not skewed by when the poll happens to look.
func (r *runner) follow(ctx context.Context, o acceptedOrder) {
	deadline := o.answeredAt.Add(r.cfg.FollowTimeout)
	wait := max(r.cfg.firstPoll, r.stats.completionQuantile(90))
	pollAt := o.answeredAt.Add(wait)
	seen := false     // got at least one readable view of the order
	lastProblem := "" // why the latest poll could not read it

	for {
		// The last poll lands exactly on the deadline rather than being
		// skipped, so an order finishing just before it is not misreported.
		final := !pollAt.Before(deadline)
		if final {
			pollAt = deadline
		}
		if !sleepUntil(ctx, pollAt) {
			r.stats.fail(kindInterrupted)
			return
		}
		view, problem := r.getOrder(ctx, o)
		if ctx.Err() != nil {
			r.stats.fail(kindInterrupted)
			return
		}
		if problem == "" {
			seen = true
			if isTerminal(view.Status) {
				r.finish(o, view)
				return
			}
		} else {
			lastProblem = problem
		}
		if final {
			if seen {
				r.stats.fail(kindNotTerminal)
			} else {
				r.stats.fail(kindNotTerminal + ": " + lastProblem)
			}
			return
		}
		wait = min(2*wait, r.cfg.maxPoll)
		pollAt = time.Now().Add(wait)
	}
}

func (r *runner) finish(o acceptedOrder, view orderView) {
	if view.Status != statusCompleted {
		r.stats.fail(terminalFailureKind(view.Status, view.FailureReason))
		return
	}
	latency, completedAt, problem := terminalLatency(o.createdAt, view)
	if problem != "" {
		r.stats.anomaly(problem)
	}
	r.stats.markCompleted(latency, completedAt, problem == "")
}

// getOrder returns the order, or a short failure kind when it could not be
// read. Errors are expected now and then (e.g. a 404 before a read replica
// catches up), so the caller keeps polling rather than giving up.
func (r *runner) getOrder(ctx context.Context, o acceptedOrder) (orderView, string) {
	if err := r.polls.Wait(ctx); err != nil {
		return orderView{}, "GET " + transportKind(ctx, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.orderBaseURL+url.PathEscape(o.id), nil)
	if err != nil {
		return orderView{}, "GET build request"
	}
	req.Header.Set("Accept", "application/json")
	if o.token != "" {
		req.Header.Set("Authorization", "Bearer "+o.token)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return orderView{}, "GET " + transportKind(ctx, err)
	}
	payload, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	if err != nil {
		return orderView{}, "GET " + transportKind(ctx, err)
	}
	if resp.StatusCode != http.StatusOK {
		return orderView{}, fmt.Sprintf("GET HTTP %d", resp.StatusCode)
	}
	var view orderView
	if err := json.Unmarshal(payload, &view); err != nil || view.Status == "" {
		return orderView{}, "GET unreadable body"
	}
	return view, ""
}

// terminalLatency measures create-to-terminal on the server's clock: the
// history entry of the terminal status minus createdAt. Using the time the
// poll saw the status instead would add up to a whole backoff step of error.
func terminalLatency(createdAt time.Time, view orderView) (time.Duration, time.Time, string) {
	var at time.Time
	found := false
	for _, h := range view.History {
		if h.Status != view.Status {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, h.At)
		if err != nil {
			return 0, time.Time{}, "history " + view.Status + " entry with bad timestamp"
		}
		at, found = t, true // the last entry wins if the status was entered twice
	}
	if !found {
		return 0, time.Time{}, view.Status + " without history entry"
	}
	created := refineCreatedAt(createdAt, view.History)
	if at.Before(created) {
		return 0, at, "history " + view.Status + " before createdAt"
	}
	return at.Sub(created), at, ""
}

// refineCreatedAt handles a createdAt rendered with whole seconds while the
// history is RFC3339Nano: subtracting the truncated value would inflate
// latencies by up to a second. The PENDING history entry is the same event
// at full precision, so it is used when it falls in that same second.
func refineCreatedAt(createdAt time.Time, history []historyEntry) time.Time {
	if createdAt.Nanosecond() != 0 {
		return createdAt
	}
	for _, h := range history {
		if h.Status != statusPending {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, h.At)
		if err == nil && t.Truncate(time.Second).Equal(createdAt) {
			return t
		}
		break
	}
	return createdAt
}

// sleepUntil reports false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
