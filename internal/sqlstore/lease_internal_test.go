package sqlstore

import (
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
