package app

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ordersys/ordersys/internal/messaging"
)

// TestParseRefusesContradictions: dev and serve refuse, when they parse their command line,
// settings that contradict each other or would silently become a default, naming the flags; the
// defaults and other valid settings pass.
func TestParseRefusesContradictions(t *testing.T) {
	none := func(string) string { return "" }
	parsers := map[string]func(args []string, getenv func(string) string) error{
		"dev": func(args []string, getenv func(string) string) error {
			_, _, err := parseDev(args, getenv, io.Discard)
			return err
		},
		"serve": func(args []string, getenv func(string) string) error {
			_, _, err := parseServe(append(args, "--auth", "none"), getenv, io.Discard)
			return err
		},
	}
	for name, parse := range parsers {
		for _, ok := range [][]string{nil, {"--retry-base", "5s", "--retry-cap", "5s"},
			{"--inbox-retention", "168h"}, {"--step-timeout", "1ms", "--step-attempts", "1", "--retry-attempts", "1"}} {
			if err := parse(ok, none); err != nil {
				t.Errorf("%s %q: %v", name, ok, err)
			}
		}
		for _, c := range []struct {
			args []string
			env  map[string]string
			want []string // parts of the error
		}{
			{args: []string{"--retry-base", "2s", "--retry-cap", "1s"},
				want: []string{"--retry-cap, --retry-base", "retry cap 1s is below retry base 2s"}},
			{args: []string{"--retry-base", "10s"}, want: []string{"retry cap 5s is below retry base 10s"}},
			{env: map[string]string{"ORDERSYS_RETRY_CAP": "10ms"}, want: []string{"retry cap 10ms is below retry base 50ms"}},
			{args: []string{"--inbox-retention", "24h"},
				want: []string{"--inbox-retention", "24h0m0s is shorter than the topics' retention 168h0m0s", "applied twice"}},
			{args: []string{"--retry-base", "0s"}, want: []string{"--retry-base 0s: want a positive duration"}},
			{args: []string{"--retry-cap", "-1s"}, want: []string{"--retry-cap -1s: want a positive duration"}},
			{args: []string{"--retry-attempts", "0"}, want: []string{"--retry-attempts 0: want at least 1"}},
			{args: []string{"--inbox-retention", "0s"}, want: []string{"--inbox-retention 0s: want a positive duration"}},
			{args: []string{"--step-timeout", "-5s"}, want: []string{"--step-timeout -5s: want a positive duration"}},
			{args: []string{"--step-attempts", "0", "--retry-attempts", "-2"},
				want: []string{"--step-attempts 0: want at least 1", "--retry-attempts -2: want at least 1"}},
		} {
			err := parse(c.args, func(k string) string { return c.env[k] })
			if err == nil {
				t.Errorf("%s %q %v was accepted", name, c.args, c.env)
				continue
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s %q %v: error %q, want it to say %q", name, c.args, c.env, err, w)
				}
			}
		}
	}
}

// TestParseAuth: serve refuses to start without its keys unless told --auth none, dev makes its
// own, and contradictory auth settings are refused naming the flags.
func TestParseAuth(t *testing.T) {
	none := func(string) string { return "" }
	for _, c := range []struct {
		cmd  string
		args []string
		want string // part of the error; "" for none
	}{
		{"serve", nil, "--auth jwt needs the keys that sign tokens: set --jwt-jwks-url or --jwt-jwks-file (or --auth none"},
		{"serve", []string{"--auth", "none"}, ""},
		{"serve", []string{"--jwt-jwks-file", "keys.json", "--jwt-issuer", "https://idp.example", "--jwt-audience", "ordersys"}, ""},
		{"serve", []string{"--jwt-jwks-file", "keys.json", "--jwt-audience", "ordersys"}, "set --jwt-issuer and --jwt-audience"},
		{"dev", []string{"--auth", "jwt", "--jwt-jwks-url", "https://idp.example/jwks", "--jwt-issuer", "i"}, "set --jwt-issuer and --jwt-audience"},
		{"serve", []string{"--jwt-jwks-url", "https://idp.example/jwks", "--jwt-jwks-file", "keys.json"}, "give one"},
		{"serve", []string{"--auth", "none", "--jwt-jwks-url", "https://idp.example/jwks"}, "set --auth jwt"},
		{"serve", []string{"--auth", "basic"}, `--auth "basic": want jwt or none`},
		{"serve", []string{"--auth", "none", "--rate-limit", "-1"}, "cannot be negative"},
		{"dev", nil, ""},
		{"dev", []string{"--auth", "jwt"}, ""}, // dev makes a development key
		{"dev", []string{"--auth", "jwt", "--rate-limit", "50", "--rate-limit-burst", "100"}, ""},
	} {
		var err error
		if c.cmd == "serve" {
			_, _, err = parseServe(c.args, none, io.Discard)
		} else {
			_, _, err = parseDev(c.args, none, io.Discard)
		}
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s %q: %v", c.cmd, c.args, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s %q: error %v, want it to say %q", c.cmd, c.args, err, c.want)
		}
	}
}

// TestParseDev checks that dev reads its flags and environment as before the checks were added.
func TestParseDev(t *testing.T) {
	env := map[string]string{"ORDERSYS_RETRY_ATTEMPTS": "3", "ORDERSYS_INBOX_RETENTION": "200h"}
	cfg, logs, err := parseDev([]string{"--retry-base", "100ms", "--partitions", "2", "--log-level", "debug"},
		func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := messaging.RetryConfig{Base: 100 * time.Millisecond, Cap: messaging.DefaultRetryCap, MaxAttempts: 3}
	if cfg.Retry != want || cfg.Retention.Inbox != 200*time.Hour || cfg.Partitions != 2 || logs != (logSettings{"debug", "text"}) {
		t.Errorf("retry %+v, inbox retention %v, partitions %d, logs %+v", cfg.Retry, cfg.Retention.Inbox, cfg.Partitions, logs)
	}
	if _, _, err := parseDev([]string{"extra"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("a positional argument was accepted")
	}
}
