package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"go.opentelemetry.io/otel/attribute"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect is everything that differs between the databases sqlstore runs on, held once per
// database (sqlite.go, postgres.go) so that no caller branches on which one it has. Almost all
// SQL is shared: both engines accept $1 placeholders, ON CONFLICT DO NOTHING and RETURNING.
type Dialect struct {
	Name string
	// system is the database as OpenTelemetry's db.system.name calls it.
	system attribute.KeyValue
	// BatchSize is how many records a consumer applies in one transaction.
	BatchSize int
	// Networked says the database is a server that several processes share: a statement costs
	// a network round trip, and other processes learn of writes (NOTIFY) and take turns (leases)
	// through it.
	Networked bool

	prefixes []string // of the DSNs that name it
	// check, if set, refuses a DSN the driver would not take, in words that show no password.
	check  func(dsn string) error
	driver string // the database/sql driver
	goose  goose.Dialect
	// connString is the driver's connection string for dsn, its tables in schema ("": default).
	connString func(dsn, schema string) (string, error)
	// openService opens one service's database (see OpenService) with d.
	openService func(ctx context.Context, d *Dialect, dsn, service string) (*DB, error)
	// migrations is the folder of a migration set that holds this dialect's own DDL, if any.
	migrations string
	// writeConns and readConns size the pools of writers and of readers (see DB.reads);
	// writerParams and readerParams are added to the writers' and the readers' connection
	// strings.
	writeConns, readConns int
	writerParams          string
	readerParams          string
	// oneWriter: writers exclude each other (a lock in process, see DB.writeMu), and the
	// process checkpoints the write-ahead log itself (checkpoint.go).
	oneWriter bool
	// cacheStatements: prepare every query once, by its text (stmt.go).
	cacheStatements bool
	// migrationLock: replicas starting together take a lock to migrate one at a time.
	migrationLock bool
	// vacuum: deleted rows linger until a VACUUM (see DB.Vacuum).
	vacuum bool
	// lockRows ends "ORDER BY column" so that the rows are locked in that order (see LockInOrder).
	lockRows string
	// byteOrder follows a text column in ORDER BY to sort it by its bytes (see InByteOrder).
	byteOrder string
	// in matches a column against values (see Tx.In).
	in func(after int, values []string) (string, []any)
	// run runs a transaction (tx.go, pgtx.go).
	run func(tx *Tx, ctx context.Context, fn func(*Tx) error) error
	// deleteIDsThen is DB.DeleteIDsThen.
	deleteIDsThen func(ctx context.Context, db *DB, table string, ids []int64, read Read) error
}

var dialects = []*Dialect{SQLite, Postgres}

// dialectOf is the dialect a DSN names: "sqlite:PATH" (or "sqlite::memory:"), or a postgres://
// URL.
func dialectOf(dsn string) (*Dialect, error) {
	for _, d := range dialects {
		for _, p := range d.prefixes {
			if !strings.HasPrefix(dsn, p) {
				continue
			}
			if d.check != nil {
				if err := d.check(dsn); err != nil {
					return nil, err
				}
			}
			return d, nil
		}
	}
	return nil, fmt.Errorf("unsupported database DSN %q: want sqlite:PATH or postgres://", Redacted(dsn))
}

// CheckDSN refuses a DSN that names no supported database or that its driver would not take,
// without connecting, so that a process can refuse it before it starts anything else.
func CheckDSN(dsn string) error {
	_, err := dialectOf(dsn)
	return err
}

// secretParams are the query parameters of a PostgreSQL URL that hold secrets.
var secretParams = []string{"password", "sslpassword"}

// Redacted is dsn fit for a log line or an error: a URL's password (in its user part or its query)
// reads xxxxx, and what is not a URL with a host is not shown at all, since it could be anything,
// a password included.
func Redacted(dsn string) string {
	if strings.HasPrefix(dsn, "sqlite:") {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "(not a database URL)"
	}
	if q := u.Query(); slices.ContainsFunc(secretParams, q.Has) {
		for _, k := range secretParams {
			if q.Has(k) {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// quotedPart is a quoted piece of a URL in url.Parse's errors.
var quotedPart = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// urlError says what is wrong with a URL that does not parse without quoting it or any part of
// it: url.Parse's errors quote both, and the part may be a piece of the password ("invalid
// port" of a password holding a slash).
func urlError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	return fmt.Errorf("database URL (not shown: it may hold a password) does not parse: %s; "+
		"a password holding any of @ : / ? # %% must be %%-escaped", quotedPart.ReplaceAllString(err.Error(), "…"))
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

// Unreachable reports whether err says the database could not be reached at all: a connection
// that could not be made, or one lost on the way.
func Unreachable(err error) bool {
	var connect *pgconn.ConnectError
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false // the caller's time ran out, which says nothing of the database
	}
	return errors.As(err, &connect) || errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

// quoteIdent quotes an identifier: "order" is a reserved word.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// In returns a condition that a column's value is one of values, to follow the column's name in a
// query that has after arguments before these, and the values as arguments. Its text depends on
// the number of values only where the database cannot take them as one array (an empty list
// matches nothing).
func (tx *Tx) In(after int, values []string) (string, []any) { return tx.Dialect.in(after, values) }

// In is Tx.In for a query outside a transaction.
func (db *DB) In(after int, values []string) (string, []any) { return db.Dialect.in(after, values) }

// LockInOrder ends a SELECT so that it locks the rows it returns until tx ends, taking them in
// byte order of column, so that transactions locking several rows cannot deadlock. Where writers
// exclude each other anyway it only orders the rows.
func (tx *Tx) LockInOrder(column string) string { return ` ORDER BY ` + column + tx.Dialect.lockRows }

// InByteOrder is an ORDER BY clause that sorts by column's bytes, whatever the database's
// collation: what a page of rows ends with must not depend on the database it came from.
func (db *DB) InByteOrder(column string) string { return ` ORDER BY ` + column + db.Dialect.byteOrder }

// DeleteIDs deletes the rows of table whose id is in ids.
func (db *DB) DeleteIDs(ctx context.Context, table string, ids []int64) error {
	return db.Dialect.deleteIDsThen(ctx, db, table, ids, Read{})
}

// DeleteIDsThen deletes the rows of table whose id is in ids (none: it deletes nothing), then runs
// read, if it has a query, which sees them gone: in one round trip where statements cost one.
//
// The delete may commit without waiting for its write-ahead log to reach the disk, so that the
// read's answer does not wait for a flush. It is meant for rows that are safe to see again
// (published outbox rows: a delete lost in a crash of the database publishes them twice, and the
// consumers' inboxes absorb the second).
func (db *DB) DeleteIDsThen(ctx context.Context, table string, ids []int64, read Read) error {
	return db.Dialect.deleteIDsThen(ctx, db, table, ids, read)
}

// Vacuum reclaims the dead rows of a table whose rows are all deleted soon after they are written
// (the outbox), where the database leaves them in its indexes until a vacuum: every read in id
// order would otherwise walk them.
func (db *DB) Vacuum(ctx context.Context, table string) error {
	if !db.Dialect.vacuum {
		return nil
	}
	if _, err := db.DB.ExecContext(ctx, `VACUUM `+quoteIdent(table)); err != nil {
		return fmt.Errorf("vacuum %s: %w", table, err)
	}
	return nil
}

// readRows hands rows to read and closes them.
func readRows(rows Rows, read Read) error {
	err := read.Rows(rows)
	if err == nil {
		err = rows.Err()
	}
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}
