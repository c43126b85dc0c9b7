package chaos

import (
	"context"
	"slices"
	"time"

	"github.com/ordersys/ordersys/internal/sqlstore"
)

// measureStalls reads when each order completed, from the order service's history (its own
// clock, which is this machine's), and gives each fault its stall and the run its baseline.
func measureStalls(ctx context.Context, db *sqlstore.DB, res *Result, start, end time.Time) error {
	times, err := sqlstore.Collect(ctx, db, func(r sqlstore.Scanner) (t time.Time, err error) {
		err = r.Scan(&t)
		return t, err
	}, `SELECT at FROM order_history WHERE status = 'COMPLETED'`)
	if err != nil {
		return err
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	firstFault := end
	if len(res.Faults) > 0 {
		firstFault = res.Faults[0].At
	}
	res.Baseline, _ = longestStall(times, start, firstFault)
	for i := range res.Faults {
		until := end
		switch {
		case i+1 < len(res.Faults):
			until = res.Faults[i+1].At
		case len(times) > 0 && times[len(times)-1].After(end):
			// The last fault's window runs on into the drain, where orders in flight complete.
			until = times[len(times)-1].Add(time.Nanosecond)
		}
		res.Faults[i].Stall, res.Faults[i].StallOpen = longestStall(times, res.Faults[i].At, until)
	}
	return nil
}

// longestStall is the longest time without a completion within [from, until): a pause that
// began before from counts from from, one that runs past until counts to until, and open reports
// that the window ended in its longest pause (the next fault came before completions resumed).
func longestStall(completions []time.Time, from, until time.Time) (worst time.Duration, open bool) {
	if !until.After(from) {
		return 0, false
	}
	i, _ := slices.BinarySearchFunc(completions, from, func(t, target time.Time) int { return t.Compare(target) })
	last := from
	for ; i < len(completions) && completions[i].Before(until); i++ {
		if gap := completions[i].Sub(last); gap > worst {
			worst, open = gap, false
		}
		last = completions[i]
	}
	if tail := until.Sub(last); tail > worst {
		worst, open = tail, true
	}
	return worst, open
}

// cancelSteps counts, from the order service's history, the step each cancelled order was in
// when its cancel took effect (the status before compensation began), and under "too late" the
// orders a cancel reached after they had shipped, which completed.
func cancelSteps(ctx context.Context, db *sqlstore.DB) (map[string]int, error) {
	type entry struct{ id, status string }
	entries, err := sqlstore.Collect(ctx, db, func(r sqlstore.Scanner) (e entry, err error) {
		err = r.Scan(&e.id, &e.status)
		return e, err
	}, `SELECT h.order_id, h.status FROM order_history h JOIN orders o ON o.id = h.order_id
		WHERE o.status = 'CANCELLED' ORDER BY h.order_id, h.seq`)
	if err != nil {
		return nil, err
	}
	steps := map[string]int{}
	prev := entry{}
	for _, e := range entries {
		if e.status == "COMPENSATING" && prev.id == e.id && prev.status != "COMPENSATING" {
			steps[prev.status]++
		}
		prev = e
	}
	var late int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM order_history WHERE reason = 'CANCEL_TOO_LATE'`).Scan(&late); err != nil {
		return nil, err
	}
	if late > 0 {
		steps["too late"] = late
	}
	return steps, nil
}
