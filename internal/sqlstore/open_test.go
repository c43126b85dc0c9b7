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
