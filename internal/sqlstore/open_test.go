package sqlstore_test

import (
	"path/filepath"
	"testing"

	"github.com/ordersys/ordersys/internal/sqlstore"
)

// TestOpenServiceMakesTheSQLiteDirectory: `serve --database-url sqlite:DIR` and `migrate` work on
// a DIR that does not exist yet, as dev does with its data dir.
func TestOpenServiceMakesTheSQLiteDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "not", "yet", "payment.db")
	db, err := sqlstore.OpenService(t.Context(), "sqlite:"+path, "payment")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), `CREATE TABLE t (k INTEGER)`); err != nil {
		t.Fatal(err)
	}
}

// TestSQLitePageCaches: a writer keeps a 32 MB page cache, a reader SQLite's default 2 MB (every
// pooled connection has its own, and eight readers of five services at 32 MB each would hold
// over a gigabyte of memory as the databases grow).
func TestSQLitePageCaches(t *testing.T) {
	db, err := sqlstore.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "caches.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pools := db.Pools()
	for i, want := range []int{-32000, -2000} {
		var got int
		if err := pools[i].QueryRowContext(t.Context(), "PRAGMA cache_size").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("pool %d: cache_size %d, want %d", i, got, want)
		}
	}
}
