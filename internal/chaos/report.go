package chaos

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Write prints the result: what was done to the system, what it did, and what the audit found.
func (r *Result) Write(w io.Writer) {
	c := r.Config
	var b strings.Builder
	fmt.Fprintf(&b, "ordersys chaos: %v of load at %d orders/s, %d%% cancelled, seed %d\n",
		c.Duration, c.Rate, int(c.CancelShare*100+0.5), c.Seed)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(&b, "  %-22s %s\n", name, fmt.Sprintf(format, args...))
	}

	byKind := map[string]int{}
	worstByKind := map[string]*Fault{}
	var worst *Fault
	failedUndo := 0
	for i := range r.Faults {
		f := &r.Faults[i]
		byKind[f.Kind]++
		if w := worstByKind[f.Kind]; w == nil || f.Stall > w.Stall {
			worstByKind[f.Kind] = f
		}
		if worst == nil || f.Stall > worst.Stall {
			worst = f
		}
		if f.Err != "" {
			failedUndo++
		}
	}
	var kinds []string
	for _, k := range faultKinds {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, byKind[k]))
	}
	row("faults injected", "%d (%s)", len(r.Faults), strings.Join(kinds, ", "))
	if failedUndo > 0 {
		row("faults not undone", "%d", failedUndo)
	}
	row("orders accepted", "%d", r.Accepted)
	row("creates refused", "%d%s", sum(r.Refused), counts(r.Refused))
	if r.RefusedCreated > 0 {
		row("refused yet created", "%d (answered 5xx, but the order exists: a client retrying with its key gets it)", r.RefusedCreated)
	}
	row("creates unanswered", "%d (%d of them created an order)", r.Unknown, r.Created)
	row("cancels sent", "%d%s", sum(r.Cancels), counts(r.Cancels))
	if len(r.CancelledIn) > 0 {
		var steps []string
		for _, s := range []string{"PENDING", "PAYMENT", "INVENTORY", "FULFILLMENT", "too late"} {
			steps = append(steps, fmt.Sprintf("%s %d", s, r.CancelledIn[s]))
		}
		row("cancelled in", "%s", strings.Join(steps, ", "))
	}
	if a := r.Audit; a != nil {
		row("outcomes", "completed %d, failed %d, cancelled %d (of %d orders in the database, %d not answered 201)",
			a.Statuses["COMPLETED"], a.Statuses["FAILED"], a.Statuses["CANCELLED"], a.Orders, a.Unlisted)
		row("lost, stuck, duplicated", "%d, %d, %d", a.Lost, a.Stuck, a.Duplicated)
		row("violations", "%d", len(a.Violations))
	} else {
		row("audit", "not run")
	}
	row("drained in", "%v", r.Drained.Round(100*time.Millisecond))
	row("stall before faults", "%v (longest time without a completion, no fault yet)", r.Baseline.Round(10*time.Millisecond))
	if worst != nil {
		row("worst stall", "%s after %s %s at %v into the load (undone after %v)", stall(*worst), worst.Kind,
			worst.Target, worst.At.Sub(r.Start).Round(100*time.Millisecond), worst.Down.Round(10*time.Millisecond))
		var per []string
		for _, k := range faultKinds {
			if f := worstByKind[k]; f != nil {
				per = append(per, k+" "+stall(*f))
			}
		}
		row("worst stall by kind", "%s", strings.Join(per, ", "))
	}
	row("processes died alone", "%d", len(r.Exits))
	for _, e := range r.Exits {
		fmt.Fprintf(&b, "    %s\n", e)
	}
	if len(r.Faults) > 0 {
		b.WriteString("  faults (s into the load, kind, target, undone after, stall; + the next fault came first):\n")
		for _, f := range r.Faults {
			fmt.Fprintf(&b, "    %6.1f %-8s %-14s %6v %8s%s\n", f.At.Sub(r.Start).Seconds(), f.Kind, f.Target,
				f.Down.Round(10*time.Millisecond), stall(f), f.Err)
		}
	}
	if r.Audit != nil && !r.Audit.OK() {
		b.WriteString("violations:\n")
		b.WriteString(r.Audit.Details(10))
	}
	if r.Dir != "" {
		fmt.Fprintf(&b, "logs and data kept in %s\n", r.Dir)
	}
	switch {
	case r.Interrupted:
		b.WriteString("INTERRUPTED\n")
	case r.OK():
		b.WriteString("PASS\n")
	default:
		b.WriteString("FAIL\n")
	}
	io.WriteString(w, b.String())
}

// stall is a fault's stall, "+" when completions had not resumed by the next fault.
func stall(f Fault) string {
	s := f.Stall.Round(10 * time.Millisecond).String()
	if f.StallOpen {
		s += "+"
	}
	return s
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// counts is ": k1 n1, k2 n2" in key order, or "" for an empty map.
func counts(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return ": " + strings.Join(parts, ", ")
}
