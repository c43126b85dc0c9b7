package app

import (
	"io"
	"slices"
	"testing"
	"time"
)

// TestParseServe checks that serve takes the business rules, from flags and from the environment,
// as dev does: every replica of a service must be configurable alike.
func TestParseServe(t *testing.T) {
	env := map[string]string{"ORDERSYS_SHIP_COUNTRIES": "DEU,FRA", "ORDERSYS_STEP_ATTEMPTS": "5", "ORDERSYS_AUTH": "none"}
	cfg, _, err := parseServe([]string{"order", "--credit-limit", "250.50", "--step-timeout", "5s",
		"--kafka-brokers", "k1:9092,k2:9092", "payment"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Rules
	if r.CreditLimit.String() != "250.5" || r.StepTimeout != 5*time.Second || r.StepAttempts != 5 ||
		!slices.Equal(r.ShipCountries, []string{"DEU", "FRA"}) {
		t.Errorf("rules %+v: want credit limit 250.5, step timeout 5s, 5 attempts, ships to DEU and FRA", r)
	}
	if !slices.Equal(cfg.Services, []string{"order", "payment"}) || !slices.Equal(cfg.Brokers, []string{"k1:9092", "k2:9092"}) {
		t.Errorf("services %q, brokers %q", cfg.Services, cfg.Brokers)
	}
	for _, v := range []string{"8x", "1.5"} {
		env := func(k string) string {
			if k == "ORDERSYS_PARTITIONS" {
				return v
			}
			return ""
		}
		if _, _, err := parseServe(nil, env, io.Discard); err == nil {
			t.Errorf("ORDERSYS_PARTITIONS=%q was accepted", v)
		}
	}
	for _, bad := range [][]string{{"--credit-limit", "-1"}, {"--credit-limit", "0.00001"}, {"--credit-limit", "1e16"},
		{"--session-timeout", "2s"}} {
		if _, _, err := parseServe(bad, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}
