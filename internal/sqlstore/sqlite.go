package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pressly/goose/v3"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
)

// SQLite is an embedded database file: one process, one writer at a time, no network between
// the process and its data.
var SQLite = &Dialect{
	Name:   "sqlite3",
	system: semconv.DBSystemNameSQLite,
	// Enough to amortise the commit, few enough that the writer is not held long enough to delay
	// API requests.
	BatchSize:  32,
	prefixes:   []string{"sqlite:"},
	driver:     "sqlite",
	goose:      goose.DialectSQLite3,
	connString: sqliteConnString,
	migrations: "sqlite",
	openService: func(ctx context.Context, d *Dialect, dsn, _ string) (*DB, error) {
		if path := sqlitePath(dsn); path != ":memory:" {
			if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
				return nil, fmt.Errorf("database directory: %w", err)
			}
		}
		return open(ctx, d, dsn, "")
	},
	// One writer at a time, the checkpointer, and a spare for a ping.
	writeConns: 3,
	readConns:  8,
	// Each connection has a page cache of its own. A writer's 32 MB keeps a busy service's hot
	// pages; readers keep SQLite's default 2 MB, since a reader's pages (an order by id, a page of
	// a list) are rarely read again before they change.
	writerParams:    "&_pragma=cache_size(-32000)",
	readerParams:    "&_pragma=query_only(1)&_pragma=cache_size(-2000)",
	oneWriter:       true,
	cacheStatements: true,
	in:              inList,
	run:             (*Tx).runSQLite,
	deleteIDsThen:   sqliteDeleteIDsThen,
}

// sqlitePath is the file (or ":memory:") a sqlite: DSN names.
func sqlitePath(dsn string) string {
	return strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
}

// sqliteConnString turns on WAL (readers never wait for the writer), a busy timeout as a
// backstop to the writer lock in DB, and synchronous=NORMAL: a commit survives a process crash but
// may be lost on power failure, the usual trade for an embedded development database. Checkpoints
// are the checkpointer's job (checkpoint.go); SQLite's own, which runs inside a committing
// transaction, stays as a backstop at 8,000 pages.
func sqliteConnString(dsn, _ string) (string, error) {
	path := sqlitePath(dsn)
	if path == "" {
		return "", errors.New("sqlite DSN has no path")
	}
	params := []string{
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(NORMAL)",
		"_pragma=busy_timeout(10000)",
		"_pragma=wal_autocheckpoint(8000)",
		"_pragma=foreign_keys(1)",
		"_txlock=immediate",
		"_time_format=sqlite",
	}
	return "file:" + path + "?" + strings.Join(params, "&"), nil
}

// inList is "IN ($n, ...)": SQLite has no arrays.
func inList(after int, values []string) (string, []any) {
	params, args := make([]string, len(values)), make([]any, len(values))
	for i, v := range values {
		params[i], args[i] = "$"+strconv.Itoa(after+i+1), v
	}
	return "IN (" + strings.Join(params, ", ") + ")", args
}

// sqliteDeleteIDsThen runs one fixed statement per id in a transaction, which the statement
// cache and the single writer make cheap, then the read: in process, nothing is saved by sending
// them together.
func sqliteDeleteIDsThen(ctx context.Context, db *DB, table string, ids []int64, read Read) error {
	if len(ids) > 0 {
		if err := db.InTx(ctx, func(tx *Tx) error {
			for _, id := range ids {
				if _, err := tx.ExecContext(ctx, `DELETE FROM `+quoteIdent(table)+` WHERE id = $1`, id); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if read.Query == "" {
		return nil
	}
	rows, err := db.QueryWork(ctx, read.Query, read.Args...)
	if err != nil {
		return err
	}
	return readRows(rows, read)
}
