package sqlstore

import (
	"context"
	"time"
)

// SQLite's WAL must be copied back into the database file now and then (a checkpoint). Left to
// SQLite, that happens inside whichever transaction commits past wal_autocheckpoint pages, while
// it holds the writer lock, so every write of the service waits for it (docs/performance.md has
// what that cost). A checkpointer of our own runs PASSIVE checkpoints on a connection of its own a moment
// after commits, alongside the writer rather than in its way; the auto-checkpoint stays as a
// backstop and, with the WAL already copied, has next to nothing left to do when it fires.

// checkpointEvery spaces the checkpoints: often enough that the WAL stays small, seldom enough
// that each copies a useful batch of pages.
const checkpointEvery = 250 * time.Millisecond

// startCheckpointer runs checkpoints until Close. It sleeps while nothing commits.
func (db *DB) startCheckpointer() {
	ctx, cancel := context.WithCancel(context.Background())
	db.committed = make(chan struct{}, 1)
	db.stopCheckpoints = cancel
	db.checkpoints.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-db.committed:
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(checkpointEvery):
			}
			// Best effort: a failed checkpoint leaves the work to the next one or to SQLite's own.
			_, _ = db.DB.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
		}
	})
}

// noteCommit wakes the checkpointer, if there is one, without ever blocking.
func (db *DB) noteCommit() {
	if db.committed == nil {
		return
	}
	select {
	case db.committed <- struct{}{}:
	default:
	}
}
