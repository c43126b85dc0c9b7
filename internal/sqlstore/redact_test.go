package sqlstore

import (
	"context"
	"strings"
	"testing"
)

// TestNoPasswordInErrors: a database URL's password never reaches an error or a log line.
func TestNoPasswordInErrors(t *testing.T) {
	for _, dsn := range []string{
		"postgress://u:s3cret@h/db",        // a typo in the scheme
		"mysql://u:s3cret@h:3306/db",       // an unsupported database
		"s3cret",                           // not a URL at all
		"postgres ://u:s3cret@h/db",        // does not parse
		"postgres://u:s3cret@127.0.0.1:1/", // refused: nothing listens
	} {
		_, err := Open(context.Background(), dsn)
		if err == nil {
			t.Errorf("Open(%q) succeeded", dsn)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q): %v: shows the password", dsn, err)
		}
	}
	if got := Redacted("postgres://u:s3cret@h:5432/db?sslmode=disable"); got != "postgres://u:xxxxx@h:5432/db?sslmode=disable" {
		t.Errorf("Redacted = %q", got)
	}
}
