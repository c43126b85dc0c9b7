package sqlstore

import (
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ordersys/ordersys/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestLeaseConnectionProbesItsPeer: the server takes the keepalive settings a lease connects
// with, so that a holder that vanished loses its lock in seconds rather than hours.
func TestLeaseConnectionProbesItsPeer(t *testing.T) {
	cfg, err := leaseConfig(pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.ConnectConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	for name, want := range map[string]string{"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "3"} {
		var got string
		if err := conn.QueryRow(t.Context(), "SHOW "+name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %s on the lease's session, want %s", name, got, want)
		}
	}
}

// TestUnavailable: PostgreSQL's answer to a write on a read-only server (a standby, or a primary
// set read-only when its disk fills) is an outage; a unique violation is this work's own failure.
func TestUnavailable(t *testing.T) {
	conn, err := pgx.Connect(t.Context(), pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), `CREATE TABLE u (k int PRIMARY KEY); INSERT INTO u VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	_, dup := conn.Exec(t.Context(), `INSERT INTO u VALUES (1)`)
	if _, err := conn.Exec(t.Context(), `SET default_transaction_read_only = on`); err != nil {
		t.Fatal(err)
	}
	_, readOnly := conn.Exec(t.Context(), `INSERT INTO u VALUES (2)`)
	if readOnly == nil || !Unavailable(fmt.Errorf("apply: %w", readOnly)) {
		t.Errorf("Unavailable(%v) = false, want true", readOnly)
	}
	if dup == nil || Unavailable(dup) {
		t.Errorf("Unavailable(%v) = true, want false", dup)
	}
}
