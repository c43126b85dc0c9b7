package app

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestNoPasswordOnTheCommandLine: whichever way a database URL is wrong, `migrate` and `serve`
// refuse it without printing its password or any piece of it, in the error or on their output;
// and a URL given by ORDERSYS_DATABASE_URL is shown without it in the usage.
func TestNoPasswordOnTheCommandLine(t *testing.T) {
	nowhere := freeAddr(t) // serve must refuse the URL before it asks the brokers anything
	for _, c := range []struct{ url, password string }{
		{"postgres://u:s3cret@h:bad/db", "s3cret"},           // a bad port
		{"postgres://u:s3%zzcret@h/db", "s3%zzcret"},         // a bad %-escape
		{"user=u password=s3cret host=h port=bad", "s3cret"}, // keyword form
		{"postgress://u:s3cret@h/db", "s3cret"},              // a typo in the scheme
		{"postgres://u:s3/cret@h/db", "s3/cret"},             // a slash not escaped
		{"postgres://u:s3cret@h:99999/db", "s3cret"},         // a port out of range
	} {
		for _, args := range [][]string{
			{"migrate", "--database-url", c.url},
			{"serve", "order", "--auth", "none", "--database-url", c.url, "--kafka-brokers", nowhere},
		} {
			var stdout, stderr bytes.Buffer
			err := Run(t.Context(), append([]string{"ordersys"}, args...), func(string) string { return "" }, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), "database") {
				t.Errorf("%s %s: %v, want it refused for its database URL", args[0], c.url, err)
				continue
			}
			if piece := shownPiece(err.Error()+stdout.String()+stderr.String(), c.password); piece != "" {
				t.Errorf("%s %s: %v, printed %q %q: shows %q of the password", args[0], c.url, err, stdout.String(), stderr.String(), piece)
			}
		}
	}
	env := map[string]string{"ORDERSYS_DATABASE_URL": "postgres://u:s3cret@h/db"}
	for _, args := range [][]string{{"migrate", "--help"}, {"serve", "--nope"}} {
		var stderr bytes.Buffer
		_ = Run(context.Background(), append([]string{"ordersys"}, args...), func(k string) string { return env[k] }, &stderr, &stderr)
		if out := stderr.String(); !strings.Contains(out, "postgres://u:xxxxx@h/db") || strings.Contains(out, "s3cret") {
			t.Errorf("%q with ORDERSYS_DATABASE_URL set printed %q: want the URL without its password", args, out)
		}
	}
}

// shownPiece is the longest piece of password, of 3 characters or more, that s shows ("" if none).
func shownPiece(s, password string) string {
	for n := len(password); n >= 3; n-- {
		for i := 0; i+n <= len(password); i++ {
			if strings.Contains(s, password[i:i+n]) {
				return password[i : i+n]
			}
		}
	}
	return ""
}
