package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names the database behind a DB. Almost all SQL is shared: both engines accept $1
// placeholders, ON CONFLICT DO NOTHING and RETURNING. What differs lives in this file and in the
// per-dialect migration folders.
type Dialect string

const (
	SQLite   Dialect = "sqlite3"
	Postgres Dialect = "postgres"
)

// parseDSN maps a DSN to its dialect and the driver's own connection string. SQLite DSNs are
// "sqlite:PATH" (or "sqlite::memory:"); PostgreSQL ones are ordinary postgres:// URLs.
func parseDSN(dsn string) (Dialect, string, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := sqlitePath(dsn)
		if path == "" {
			return "", "", errors.New("sqlite DSN has no path")
		}
		return SQLite, sqliteDSN(path), nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return Postgres, dsn, nil
	default:
		return "", "", fmt.Errorf("unsupported database DSN %q: want sqlite:PATH or postgres://", dsn)
	}
}

// sqlitePath is the file (or ":memory:") a sqlite: DSN names.
func sqlitePath(dsn string) string {
	return strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
}

// sqliteDSN turns on WAL (readers never wait for the writer), a busy timeout as a backstop to the
// writer lock in DB, and synchronous=NORMAL: a commit survives a process crash but may be lost on
// power failure, the usual trade for an embedded development database. Checkpoints are the
// checkpointer's job (checkpoint.go); SQLite's own, which runs inside a committing transaction,
// stays at 8,000 pages as a backstop (at the default 1,000, before the checkpointer, ordersys dev
// had p99 3.5 s at 300 orders/s). The 32 MB page cache keeps the hot pages of a busy service.
func sqliteDSN(path string) string {
	params := []string{
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(NORMAL)",
		"_pragma=busy_timeout(10000)",
		"_pragma=cache_size(-32000)",
		"_pragma=wal_autocheckpoint(8000)",
		"_pragma=foreign_keys(1)",
		"_txlock=immediate",
		"_time_format=sqlite",
	}
	return "file:" + path + "?" + strings.Join(params, "&")
}

// IsUniqueViolation reports whether err is a unique-constraint violation in either dialect.
func IsUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		code := se.Code()
		return code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe interface{ SQLState() string }
	if errors.As(err, &pe) {
		return pe.SQLState() == "23505"
	}
	return false
}

// Unavailable reports whether err says the database cannot do work for now rather than that this
// work failed: on PostgreSQL a lost connection (SQLSTATE class 08), a full disk or too little
// memory or connections (class 53), a server shutting down or starting (57P01 to 57P03), or a
// read-only standby where a primary was expected (25006); on SQLite a full disk, an I/O error or
// a read-only file. Such a database may still answer a ping.
func Unavailable(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary code, whatever the extended one
		case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY:
			return true
		}
		return false
	}
	var pe interface{ SQLState() string }
	if errors.As(err, &pe) {
		code := pe.SQLState()
		switch {
		case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"):
			return true
		}
		switch code {
		case "57P01", "57P02", "57P03", "25006":
			return true
		}
	}
	return false
}

// withSearchPath points every connection of a PostgreSQL URL at one schema.
func withSearchPath(dsn, schema string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("database URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", quoteIdent(schema))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// quoteIdent quotes a PostgreSQL identifier: "order" is a reserved word.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// DeleteIDs deletes the rows of table whose id is in ids. PostgreSQL takes them as one array in
// one statement; SQLite runs one fixed statement per id in a transaction, which its statement
// cache and single writer make cheap, where a network round trip per row would not be.
func (db *DB) DeleteIDs(ctx context.Context, table string, ids []int64) error {
	if db.Dialect == Postgres {
		_, err := db.DB.ExecContext(ctx, `DELETE FROM `+quoteIdent(table)+` WHERE id = ANY($1)`, ids)
		return err
	}
	return db.InTx(ctx, func(tx *Tx) error {
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+quoteIdent(table)+` WHERE id = $1`, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteIDsThen deletes the rows of table whose id is in ids (none: it deletes nothing), then runs
// read, which sees them gone. On PostgreSQL both statements go in one pipeline, and so one round
// trip and one transaction; on SQLite, in process, they are DeleteIDs and a query.
//
// The delete commits without waiting for its WAL to reach the disk (synchronous_commit off), so
// that the read's answer does not wait for a flush. It is meant for rows that are safe to see again
// (published outbox rows: a delete lost in a crash of PostgreSQL publishes them twice, and the
// consumers' inboxes absorb the second).
func (db *DB) DeleteIDsThen(ctx context.Context, table string, ids []int64, read Read) error {
	if db.Dialect != Postgres {
		if len(ids) > 0 {
			if err := db.DeleteIDs(ctx, table, ids); err != nil {
				return err
			}
		}
		rows, err := db.QueryWork(ctx, read.Query, read.Args...)
		if err != nil {
			return err
		}
		err = read.Rows(rows)
		if err == nil {
			err = rows.Err()
		}
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		return err
	}
	conn, err := db.DB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(driverConn any) error {
		var b pgx.Batch
		if len(ids) > 0 {
			b.Queue(`BEGIN`)
			b.Queue(`SET LOCAL synchronous_commit TO OFF`)
			b.Queue(`DELETE FROM `+quoteIdent(table)+` WHERE id = ANY($1)`, ids)
		}
		b.Queue(read.Query, read.Args...)
		if len(ids) > 0 {
			b.Queue(`COMMIT`)
		}
		br := driverConn.(*stdlib.Conn).Conn().SendBatch(ctx, &b)
		defer br.Close()
		if len(ids) > 0 {
			for range 3 {
				if _, err := br.Exec(); err != nil {
					return fmt.Errorf("delete from %s: %w", table, err)
				}
			}
		}
		if err := readNext(br, read); err != nil {
			return err
		}
		return br.Close()
	})
}

// LockInOrder ends a SELECT so that it locks the rows it returns until tx ends, taking them in
// byte order of column, so that transactions locking several rows cannot deadlock. ORDER BY
// applies before the locking clause, so rows are locked in that order. On SQLite, whose write
// transactions exclude each other, it only orders the rows.
func (tx *Tx) LockInOrder(column string) string {
	if tx.Dialect != Postgres {
		return ` ORDER BY ` + column
	}
	return ` ORDER BY ` + column + ` COLLATE "C" FOR UPDATE`
}

// Vacuum reclaims the dead rows of a table whose rows are all deleted soon after they are written
// (the outbox). On PostgreSQL they would otherwise stay in its index until autovacuum comes by, a
// minute or more later, and every read in id order would walk them: with a vacuum every 2 seconds
// the relay's DELETE at 200 orders/s took 0.3 ms instead of 1.1. SQLite reuses the space at once.
func (db *DB) Vacuum(ctx context.Context, table string) error {
	if db.Dialect != Postgres {
		return nil
	}
	if _, err := db.DB.ExecContext(ctx, `VACUUM `+quoteIdent(table)); err != nil {
		return fmt.Errorf("vacuum %s: %w", table, err)
	}
	return nil
}
