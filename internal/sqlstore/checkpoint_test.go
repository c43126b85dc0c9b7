package sqlstore_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ordersys/ordersys/internal/sqlstore"
)

// TestCheckpointerCopiesTheWAL: committed pages reach the database file soon after a commit, far
// below the auto-checkpoint's 8,000 pages, so no committing transaction has to copy them.
func TestCheckpointerCopiesTheWAL(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := sqlstore.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (v TEXT)`); err != nil {
		t.Fatal(err)
	}
	before := size()
	if err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
		for range 200 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO t (v) VALUES ($1)`, string(make([]byte, 1000))); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// About 50 pages, all in the WAL at commit.
	for deadline := time.Now().Add(10 * time.Second); size() < before+100_000; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes 10 s after committing 200 kB: nothing checkpointed it", size())
		}
	}
}
