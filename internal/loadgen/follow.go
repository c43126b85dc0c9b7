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

// maxWait is the longest wait one GET asks the server for (the API's bound).
const maxWait = 50 * time.Second

// follow waits for one accepted order to end, the order's follow window to
// close, or the run to be interrupted. Each GET is a long poll
// (?waitFor=terminal&timeout=the rest of the window) that the server answers
// when the order ends, so an order normally costs the system under test one
// GET, held open, instead of a poll every so often. A server that answers
// without waiting (no Order-Wait header: one older than the long poll) or an
// error is asked again after a backoff, the first waiting for the 90th
// percentile of create-to-COMPLETED latency seen so far (at least firstPoll),
// later ones doubling up to maxPoll; all GETs share a budget per second. The
// latency itself comes from the server's timestamps, so it is not skewed by
// when the answer happens to arrive.
func (r *runner) follow(ctx context.Context, o acceptedOrder) {
	deadline := o.answeredAt.Add(r.cfg.FollowTimeout)
	backoff := max(r.cfg.firstPoll, r.stats.completionQuantile(90))
	seen := false     // got at least one readable view of the order
	lastProblem := "" // why the latest GET could not read it

	// Against a server that does not wait, the first GET waits as a first poll would.
	if r.noLongPoll.Load() && !sleepUntil(ctx, o.answeredAt.Add(backoff)) {
		r.stats.fail(kindInterrupted)
		return
	}
	for {
		view, waited, problem := r.getOrder(ctx, o, time.Until(deadline))
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
		if !time.Now().Before(deadline) {
			if seen {
				r.stats.fail(kindNotTerminal)
			} else {
				r.stats.fail(kindNotTerminal + ": " + lastProblem)
			}
			return
		}
		if waited {
			continue // the server waited its timeout: ask again at once
		}
		// The last GET lands exactly on the deadline rather than being
		// skipped, so an order finishing just before it is not misreported.
		next := time.Now().Add(backoff)
		if next.After(deadline) {
			next = deadline
		}
		if !sleepUntil(ctx, next) {
			r.stats.fail(kindInterrupted)
			return
		}
		backoff = min(2*backoff, r.cfg.maxPoll)
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

// getOrder returns the order once it has ended or wait has passed (the server
// decides: waited reports whether it did wait), or a short failure kind when it
// could not be read. Errors are expected now and then (e.g. a 404 before a read
// replica catches up), so the caller keeps asking rather than giving up.
func (r *runner) getOrder(ctx context.Context, o acceptedOrder, wait time.Duration) (view orderView, waited bool, problem string) {
	if err := r.polls.Wait(ctx); err != nil {
		return orderView{}, false, "GET " + transportKind(ctx, err)
	}
	wait = min(max(wait, time.Millisecond), maxWait).Round(time.Millisecond)
	// The client's own timeout is for requests answered at once; this one may be held for wait.
	ctx, cancel := context.WithTimeout(ctx, wait+r.cfg.requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		r.orderBaseURL+url.PathEscape(o.id)+"?waitFor=terminal&timeout="+wait.String(), nil)
	if err != nil {
		return orderView{}, false, "GET build request"
	}
	req.Header.Set("Accept", "application/json")
	if o.token != "" {
		req.Header.Set("Authorization", "Bearer "+o.token)
	}
	resp, err := r.waitClient.Do(req)
	if err != nil {
		return orderView{}, false, "GET " + transportKind(ctx, err)
	}
	payload, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	if err != nil {
		return orderView{}, false, "GET " + transportKind(ctx, err)
	}
	if resp.StatusCode != http.StatusOK {
		return orderView{}, false, fmt.Sprintf("GET HTTP %d", resp.StatusCode)
	}
	if err := json.Unmarshal(payload, &view); err != nil || view.Status == "" {
		return orderView{}, false, "GET unreadable body"
	}
	answered := resp.Header.Get("Order-Wait")
	if answered == "" {
		r.noLongPoll.Store(true)
	}
	return view, answered == "timeout", ""
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
