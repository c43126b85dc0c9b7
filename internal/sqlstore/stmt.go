package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// On SQLite every query goes through a prepared statement cached by its text. Parsing SQL is a
// large part of a small transaction's cost there, and database/sql re-uses a statement already
// prepared on the connection a transaction runs on. Queries must therefore have fixed text (no IN
// lists built per call), or the cache would grow without bound.
//
// PostgreSQL needs none of this: pgx caches prepared statements per connection by itself. Worse,
// preparing through the pool from inside a transaction takes a second connection, and enough
// concurrent transactions doing so exhaust the pool and wait on each other. SQLite cannot get there,
// since its transactions run one at a time.

// errNoCache sends a query down the plain path.
var errNoCache = errors.New("no statement cache")

func (db *DB) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	return db.cached(ctx, db.DB, &db.stmts, query)
}

func (db *DB) readStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	return db.cached(ctx, db.reads, &db.readStmts, query)
}

func (db *DB) cached(ctx context.Context, pool *sql.DB, cache *sync.Map, query string) (*sql.Stmt, error) {
	if !db.Dialect.cacheStatements {
		return nil, errNoCache
	}
	if s, ok := cache.Load(query); ok {
		return s.(*sql.Stmt), nil
	}
	s, err := pool.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := cache.LoadOrStore(query, s); loaded {
		s.Close()
		return prev.(*sql.Stmt), nil
	}
	return s, nil
}

// ExecContext runs a statement outside any transaction.
func (db *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, err := db.stmt(ctx, query)
	if errors.Is(err, errNoCache) {
		return db.DB.ExecContext(ctx, query, args...)
	} else if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

// QueryContext runs a query outside any transaction, on the read pool.
func (db *DB) QueryContext(ctx context.Context, query string, args ...any) (Rows, error) {
	return asRows(db.query(ctx, db.reads, &db.readStmts, query, args...))
}

// QueryWork runs a query for the service's own background work (the outbox relay) on the write
// pool, so that however many API reads are waiting, the work that moves orders along never queues
// behind them.
func (db *DB) QueryWork(ctx context.Context, query string, args ...any) (Rows, error) {
	return asRows(db.query(ctx, db.DB, &db.stmts, query, args...))
}

// asRows keeps a failed query's nil *sql.Rows from becoming a non-nil Rows.
func asRows(rows *sql.Rows, err error) (Rows, error) {
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (db *DB) query(ctx context.Context, pool *sql.DB, cache *sync.Map, query string, args ...any) (*sql.Rows, error) {
	s, err := db.cached(ctx, pool, cache, query)
	if errors.Is(err, errNoCache) {
		return pool.QueryContext(ctx, query, args...)
	} else if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

// QueryRowContext runs a single-row query outside any transaction, on the read pool.
func (db *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	s, err := db.readStmt(ctx, query)
	if err != nil {
		// The plain path; on a preparation error *sql.Row cannot be built from outside
		// database/sql, so let the driver report the same error when the row is scanned.
		return db.reads.QueryRowContext(ctx, query, args...)
	}
	return s.QueryRowContext(ctx, args...)
}
