package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
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
	sqlTx       *sql.Tx   // SQLite
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
	tx := &Tx{Dialect: db.Dialect, db: db}
	if err := db.Dialect.run(tx, ctx, fn); err != nil {
		return err
	}
	db.noteCommit()
	for _, hook := range tx.afterCommit {
		hook()
	}
	return nil
}

func (tx *Tx) runSQLite(ctx context.Context, fn func(*Tx) error) error {
	db := tx.db
	select {
	case db.writeMu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-db.writeMu }()
	var err error
	if tx.sqlTx, err = db.BeginTx(ctx, nil); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	err = fn(tx)
	if err == nil {
		err = tx.flushErr
	}
	if err == nil {
		tx.Flush()
		err = tx.runQueued(ctx, tx.takeDue())
	}
	if err != nil {
		_ = tx.sqlTx.Rollback()
		return tx.cause(err)
	}
	if err := tx.sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
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

// ExecContext runs a statement in the transaction, after the writes a Flush released.
func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if tx.pg != nil {
		return tx.pgExec(ctx, query, args)
	}
	if err := tx.runQueued(ctx, tx.takeDue()); err != nil {
		return nil, err
	}
	return tx.sqliteExec(ctx, query, args...)
}

// QueryContext runs a query in the transaction, after the writes a Flush released.
func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (Rows, error) {
	if tx.pg != nil {
		return tx.pgQuery(ctx, query, args)
	}
	if err := tx.runQueued(ctx, tx.takeDue()); err != nil {
		return nil, err
	}
	s, err := tx.sqliteStmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
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
	if tx.pg != nil {
		return tx.pgQueryAll(ctx, reads)
	}
	for _, r := range reads {
		rows, err := tx.QueryContext(ctx, r.Query, r.Args...)
		if err != nil {
			return err
		}
		err = r.Rows(rows)
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// QueryRowContext runs a single-row query in the transaction, after the writes a Flush released.
func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) Scanner {
	if tx.pg != nil {
		return tx.pgQueryRow(ctx, query, args)
	}
	if err := tx.runQueued(ctx, tx.takeDue()); err != nil {
		return errRow{err}
	}
	s, err := tx.sqliteStmt(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return s.QueryRowContext(ctx, args...)
}

func (tx *Tx) sqliteExec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, err := tx.sqliteStmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

// sqliteStmt is query's cached prepared statement (see stmt.go), bound to the transaction.
func (tx *Tx) sqliteStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s, err := tx.db.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return tx.sqlTx.StmtContext(ctx, s), nil
}

// errRow is a row whose query failed before it ran.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
