package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordersys/ordersys/internal/tracing"
)

// Rows is what a query in a transaction returns: *sql.Rows on SQLite, pgx's rows on PostgreSQL.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// Tx is a transaction that can run hooks once it has committed.
type Tx struct {
	Dialect     *Dialect
	db          *DB
	stmts       statements
	sqlTx       *sql.Tx   // SQLite; see sqlitetx.go
	pg          *pgx.Conn // PostgreSQL; see pgtx.go
	begun       bool      // PostgreSQL: BEGIN has been sent
	afterCommit []func()
	once        map[string]bool
	pending     []*later    // see InsertLater and ExecLater
	due         []statement // queued writes that a Flush has released, for the next statement
	flushErr    error       // a queued write that failed; fails the commit
}

// Once reports true the first time it is called with key in this transaction, so that work
// which must happen once per transaction (a wake-up, a NOTIFY) is not repeated per row.
func (tx *Tx) Once(key string) bool {
	if tx.once[key] {
		return false
	}
	if tx.once == nil {
		tx.once = map[string]bool{}
	}
	tx.once[key] = true
	return true
}

// AfterCommit registers fn to run after a successful commit, never after a rollback: the outbox
// uses it to wake its relay only for rows that really exist.
func (tx *Tx) AfterCommit(fn func()) { tx.afterCommit = append(tx.afterCommit, fn) }

// InTx runs fn in a transaction, committing if it returns nil and rolling back otherwise.
func (db *DB) InTx(ctx context.Context, fn func(*Tx) error) error {
	ctx, span := tracing.Tracer().Start(ctx, "transaction", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(db.Dialect.system, semconv.DBNamespace(db.Schema)))
	defer span.End()
	tx := &Tx{Dialect: db.Dialect, db: db}
	if err := db.Dialect.run(tx, ctx, fn); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return err
	}
	db.noteCommit()
	for _, hook := range tx.afterCommit {
		hook()
	}
	return nil
}

// cause joins a failed queued write to err, which it is the cause of.
func (tx *Tx) cause(err error) error {
	if tx.flushErr == nil || errors.Is(err, tx.flushErr) {
		return err
	}
	return errors.Join(tx.flushErr, err)
}

// statements runs a transaction's statements, each after the writes a Flush released: one at a
// time on SQLite (sqlitetx.go), pipelined on PostgreSQL (pgtx.go).
type statements interface {
	exec(ctx context.Context, query string, args []any) (sql.Result, error)
	query(ctx context.Context, query string, args []any) (Rows, error)
	queryAll(ctx context.Context, reads []Read) error
	queryRow(ctx context.Context, query string, args []any) Scanner
}

// ExecContext runs a statement in the transaction, after the writes a Flush released.
func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.stmts.exec(ctx, query, args)
}

// QueryContext runs a query in the transaction, after the writes a Flush released.
func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (Rows, error) {
	return tx.stmts.query(ctx, query, args)
}

// A Read is a query and the function that reads its rows, one of several that QueryAll runs.
type Read struct {
	Query string
	Args  []any
	// Rows reads the rows it wants; QueryAll closes them.
	Rows func(Rows) error
}

// QueryAll runs reads in order, after the writes a Flush released, and hands each one's rows to
// its Rows function: on PostgreSQL all of them travel in one round trip.
func (tx *Tx) QueryAll(ctx context.Context, reads ...Read) error {
	return tx.stmts.queryAll(ctx, reads)
}

// QueryRowContext runs a single-row query in the transaction, after the writes a Flush released.
func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) Scanner {
	return tx.stmts.queryRow(ctx, query, args)
}

// errRow is a row whose query failed before it ran.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
