package inventory_test

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ordersys/ordersys/internal/inventory"
	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/storetest"
)

// Lines written before they named their order get it on upgrade, from their reservation.
func TestUpgradeNamesLinesOrders(t *testing.T) {
	storetest.EachDSN(t, func(t *testing.T, dsn string) { testUpgradeNamesLinesOrders(t, storetest.Open(t, dsn, inventory.Name)) })
}

func testUpgradeNamesLinesOrders(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	// The migrations as they were before 00003.
	before := fstest.MapFS{}
	err := fs.WalkDir(inventory.Migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), "00003") {
			return err
		}
		data, err := fs.ReadFile(inventory.Migrations.FS, path)
		before[path] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	old := sqlstore.Migrations{Table: inventory.Migrations.Table, FS: before}
	if err := sqlstore.Migrate(ctx, db, old); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, q := range []string{
		`INSERT INTO reservations (id, order_id, status, created_at) VALUES ('r-1', 'order-1', 'RESERVED', $1)`,
		`INSERT INTO reservations (id, order_id, status, created_at) VALUES ('r-2', 'order-2', 'RESERVED', $1)`,
	} {
		if _, err := db.ExecContext(ctx, q, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO reservation_lines (reservation_id, sku, quantity, quantity_milli)
		VALUES ('r-1', 'SKU-1', '1', 1000), ('r-1', 'SKU-2', '2', 2000), ('r-2', 'SKU-1', '3', 3000)`); err != nil {
		t.Fatal(err)
	}

	if err := sqlstore.Migrate(ctx, db, inventory.Migrations); err != nil {
		t.Fatal(err)
	}
	scan := func(r sqlstore.Scanner) (s string, err error) { return s, r.Scan(&s) }
	got, err := sqlstore.Collect(ctx, db, scan, `SELECT reservation_id || ':' || sku || ':' || order_id
		FROM reservation_lines ORDER BY reservation_id, sku`)
	if err != nil {
		t.Fatal(err)
	}
	if want := "r-1:SKU-1:order-1 r-1:SKU-2:order-1 r-2:SKU-1:order-2"; strings.Join(got, " ") != want {
		t.Errorf("lines after the upgrade: %v, want %s", got, want)
	}
}
