package sqlstore

import (
	"context"
	"strings"
	"testing"
)

// TestNoPasswordInErrors: a database URL's password, or any piece of it, never reaches an error,
// whichever way the URL is wrong and whichever way it is opened.
func TestNoPasswordInErrors(t *testing.T) {
	for _, c := range []struct{ dsn, secret string }{
		{"postgres://u:s3cret@h:bad/db", "s3cret"},           // a bad port
		{"postgres://u:s3%zzcret@h/db", "s3%zzcret"},         // a bad %-escape
		{"user=u password=s3cret host=h port=bad", "s3cret"}, // keyword form
		{"postgress://u:s3cret@h/db", "s3cret"},              // a typo in the scheme
		{"postgres://u:s3/cret@h/db", "s3/cret"},             // an unescaped slash
		{"postgres://u:s3cret@h:99999/db", "s3cret"},         // a port pgx refuses
		{"postgres://h/db?password=s3cret&connect_timeout=x", "s3cret"},
		{"postgres://u@h/db?sslpassword=s3cret&sslmode=bogus", "s3cret"},
		{"mysql://u:s3cret@h:3306/db", "s3cret"},       // an unsupported database
		{"s3cret", "s3cret"},                           // not a URL at all
		{"postgres ://u:s3cret@h/db", "s3cret"},        // does not parse
		{"postgres://u:s3cret@127.0.0.1:1/", "s3cret"}, // refused: nothing listens
	} {
		opens := map[string]func() error{
			"CheckDSN": func() error { return CheckDSN(c.dsn) },
			"Open": func() error {
				_, err := Open(context.Background(), c.dsn)
				return err
			},
			"OpenService": func() error {
				_, err := OpenService(context.Background(), c.dsn, "order")
				return err
			},
		}
		for name, open := range opens {
			err := open()
			if err == nil {
				if name != "CheckDSN" {
					t.Errorf("%s(%q) succeeded", name, c.dsn)
				}
				continue
			}
			for _, piece := range pieces(c.secret) {
				if strings.Contains(err.Error(), piece) {
					t.Errorf("%s(%q): %v: shows %q of the password", name, c.dsn, err, piece)
					break
				}
			}
		}
	}
	for dsn, want := range map[string]string{
		"postgres://u:s3cret@h:5432/db?sslmode=disable":  "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgres://h/db?password=s3cret&sslmode=prefer": "postgres://h/db?password=xxxxx&sslmode=prefer",
		"sqlite:data/order.db":                           "sqlite:data/order.db",
		"host=h password=s3cret":                         "(not a database URL)",
	} {
		if got := Redacted(dsn); got != want {
			t.Errorf("Redacted(%q) = %q, want %q", dsn, got, want)
		}
	}
}

// pieces are the password and its parts of 3 characters or more, longest first: an error quoting
// the bad piece of a URL must not quote a piece of its password either.
func pieces(secret string) []string {
	var out []string
	for n := len(secret); n >= 3; n-- {
		for i := 0; i+n <= len(secret); i++ {
			out = append(out, secret[i:i+n])
		}
	}
	return out
}
