package loadgen

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
)

func TestCommandRejectsBadFlags(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--rate", "0"}, "rate must be > 0"},
		{[]string{"--rate", "-3"}, "rate must be > 0"},
		{[]string{"--rate", "2000000"}, "rate must be <="},
		{[]string{"--rate", "fast"}, "invalid value"},
		{[]string{"--duration", "0"}, "need duration > 0 or orders > 0"},
		{[]string{"--duration", "-1s"}, "duration must not be negative"},
		{[]string{"--orders", "-1"}, "orders must not be negative"},
		{[]string{"--orders", "10", "--duration", "5s"}, "mutually exclusive"},
		{[]string{"--skus", "0"}, "skus must be >= 1"},
		{[]string{"--follow-timeout", "0s"}, "follow-timeout must be > 0"},
		{[]string{"--target", "ftp://example.com"}, "http:// or https://"},
		{[]string{"--target", "http://"}, "has no host"},
		{[]string{"--target", "127.0.0.1:3001"}, "target"},
		{[]string{"--bogus"}, "flag provided but not defined"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Command(t.Context(), c.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one mentioning %q", err, c.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout not empty: %q", stdout.String())
			}
		})
	}
	t.Run("-h", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if err := Command(t.Context(), []string{"-h"}, &stdout, &stderr); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("err = %v, want flag.ErrHelp", err)
		}
		if !strings.Contains(stderr.String(), "-follow-timeout") {
			t.Errorf("usage lacks flags: %q", stderr.String())
		}
	})
	t.Run("Run validates too", func(t *testing.T) {
		if _, err := Run(t.Context(), Config{Target: "http://127.0.0.1:1", Rate: 1, Orders: 1, SKUs: 1}, nil); err == nil {
			t.Error("Run accepted a zero follow timeout")
		}
	})
}
