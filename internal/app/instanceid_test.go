package app

import (
	"io"
	"os"
	"strings"
	"testing"
)

// TestParseInstanceID: serve's --instance-id defaults to the host name, can be set by flag or
// environment, is turned off by an explicit empty value, and is refused when Kafka's own clients
// would refuse it as a group.instance.id.
func TestParseInstanceID(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Skip("no host name:", err)
	}
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{want: host},
		{args: []string{"--instance-id", "payment-2"}, want: "payment-2"},
		{env: map[string]string{"ORDERSYS_INSTANCE_ID": "node-7.eu_west"}, want: "node-7.eu_west"},
		{args: []string{"--instance-id", "a"}, env: map[string]string{"ORDERSYS_INSTANCE_ID": "b"}, want: "a"},
		{args: []string{"--instance-id", ""}, want: ""},
		{args: []string{"--instance-id", strings.Repeat("x", maxInstanceIDLen)}, want: strings.Repeat("x", maxInstanceIDLen)},
	} {
		cfg, _, err := parseServe(append(c.args, "--auth", "none"), func(k string) string { return c.env[k] }, io.Discard)
		if err != nil {
			t.Errorf("%q %v: %v", c.args, c.env, err)
		} else if cfg.InstanceID != c.want {
			t.Errorf("%q %v: instance id %q, want %q", c.args, c.env, cfg.InstanceID, c.want)
		}
	}
	for _, id := range []string{"order 1", "..", ".", "payment/1", "zürich-1", " order-1", strings.Repeat("x", maxInstanceIDLen+1)} {
		_, _, err := parseServe([]string{"--instance-id", id}, func(string) string { return "" }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--instance-id") {
			t.Errorf("--instance-id %q: error %v, want it refused", id, err)
		}
	}
}
