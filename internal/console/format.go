package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
)

// statuses are the order statuses in the saga's order, the terminal ones last.
var statuses = []string{"PENDING", "PAYMENT", "INVENTORY", "FULFILLMENT", "COMPENSATING", "COMPLETED", "FAILED", "CANCELLED"}

func terminal(status string) bool {
	return status == "COMPLETED" || status == "FAILED" || status == "CANCELLED"
}

// now is the clock the templates read; tests stop it.
var now = time.Now

func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"statuses": func() []string { return statuses },
		"terminal": terminal,
		"lower":    strings.ToLower,
		"ts":       func(t any) string { return timestamp(asTime(t)) },
		"iso":      func(t any) string { return asTime(t).UTC().Format(time.RFC3339Nano) },
		"ago":      func(t any) string { return ago(asTime(t)) },
		"until":    func(t any) string { return until(asTime(t)) },
		"offset":   offset,
		"short":    short,
		"pretty":   prettyPayload,
		"join":     strings.Join,
		"ms":       millis,
		"rate":     rate,
		"isUUID":   func(s string) bool { return uuid.Validate(s) == nil },
	}
}

// asTime lets the templates pass optional times (pointers) as they pass the others.
func asTime(v any) time.Time {
	switch t := v.(type) {
	case time.Time:
		return t
	case *time.Time:
		if t != nil {
			return *t
		}
	}
	return time.Time{}
}

// timestamp is t in UTC to the millisecond: a saga's steps are milliseconds apart.
func timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05.000Z")
}

// ago says how long before now t was, roughly.
func ago(t time.Time) string {
	return roughly(now().Sub(t)) + " ago"
}

// until says how long from now t is, or how long it has been past.
func until(t time.Time) string {
	d := t.Sub(now())
	if d < 0 {
		return roughly(-d) + " overdue"
	}
	return "in " + roughly(d)
}

func roughly(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.0f s", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%.0f min", d.Minutes())
	case d < 48*time.Hour:
		return fmt.Sprintf("%.0f h", d.Hours())
	default:
		return fmt.Sprintf("%.0f days", d.Hours()/24)
	}
}

// offset is how long after start t came, for an order's timeline.
func offset(t, start time.Time) string {
	d := t.Sub(start)
	if d < time.Minute {
		return fmt.Sprintf("+%.3f s", d.Seconds())
	}
	return "+" + d.Round(time.Second).String()
}

// short is an id's first 8 characters (a UUID's first group), for narrow columns.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// millis is seconds as milliseconds, for latencies; a missing value is a dash.
func millis(v *float64) string {
	if v == nil || math.IsNaN(*v) {
		return "–"
	}
	return fmt.Sprintf("%.0f ms", *v*1000)
}

// rate is orders per second; a missing value is a dash.
func rate(v *float64) string {
	if v == nil {
		return "– orders/s"
	}
	return fmt.Sprintf("%.2f orders/s", *v)
}

// prettyPayload is a dead letter's message: indented if it is JSON (or a JSON string holding
// JSON, as a text payload arrives), else as it is.
func prettyPayload(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		var out bytes.Buffer
		if json.Valid([]byte(s)) && json.Indent(&out, []byte(s), "", "  ") == nil {
			return out.String()
		}
		return s
	}
	var out bytes.Buffer
	if json.Indent(&out, raw, "", "  ") == nil {
		return out.String()
	}
	return string(raw)
}
