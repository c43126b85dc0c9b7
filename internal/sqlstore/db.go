// Package sqlstore opens a service's database (SQLite or PostgreSQL, chosen by the DSN), runs its
// embedded migrations and runs transactions with after-commit hooks. Every store in ordersys goes
// through it, so the SQL itself is written once for both databases.
package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver
)

// DB is one service's database.
type DB struct {
	*sql.DB
	Dialect Dialect
	// Schema is the PostgreSQL schema the service's tables live in ("" on SQLite).
	Schema string
	dsn    string

	// writeMu serialises write transactions on SQLite. SQLite allows one writer at a time and its
	// busy handler waits by sleeping in growing steps, which turns contention into latency spikes
	// of tens of milliseconds; a Go mutex hands the lock over immediately.
	writeMu chan struct{}

	// reads runs queries outside transactions, in a pool of its own, so that a crowd of API
	// readers can never take the connections that writers need. With one shared pool, hundreds of
	// GETs under load held every connection: on SQLite a transaction holding writeMu waited for
	// one and every write of the service stopped behind it; on PostgreSQL the consumers queued
	// behind the GETs, each saga step took seconds, and the slower orders drew yet more polling.
	reads *sql.DB

	stmts     sync.Map // query text -> *sql.Stmt on the write pool; see stmt.go
	readStmts sync.Map // the same on the read pool

	// SQLite's checkpointer; see checkpoint.go.
	committed       chan struct{}
	stopCheckpoints context.CancelFunc
	checkpoints     sync.WaitGroup
}

// Open connects to dsn. It does not migrate; call Migrate.
func Open(ctx context.Context, dsn string) (*DB, error) { return open(ctx, dsn, "") }

// OpenService connects to one service's database. On PostgreSQL, services share a database and
// each keeps its tables in a schema of its own, named after it and created if missing. On SQLite
// dsn names the file itself, whose directory is likewise created if missing.
func OpenService(ctx context.Context, dsn, service string) (*DB, error) {
	dialect, _, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if dialect != Postgres {
		if path := sqlitePath(dsn); path != ":memory:" {
			if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
				return nil, fmt.Errorf("database directory: %w", err)
			}
		}
		return open(ctx, dsn, "")
	}
	db, err := open(ctx, dsn, service)
	if err != nil {
		return nil, err
	}
	if _, err := db.DB.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+quoteIdent(service)); err != nil {
		db.Close()
		return nil, fmt.Errorf("create schema %s: %w", service, err)
	}
	return db, nil
}

func open(ctx context.Context, dsn, schema string) (*DB, error) {
	dialect, driverDSN, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if schema != "" {
		if driverDSN, err = withSearchPath(driverDSN, schema); err != nil {
			return nil, err
		}
	}
	driver := map[Dialect]string{SQLite: "sqlite", Postgres: "pgx"}[dialect]
	sqlDB, err := sql.Open(driver, driverDSN)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dialect, err)
	}
	db := &DB{DB: sqlDB, Dialect: dialect, Schema: schema, dsn: driverDSN}
	readDSN := driverDSN
	if dialect == SQLite {
		db.writeMu = make(chan struct{}, 1)
		sqlDB.SetMaxOpenConns(3) // one writer at a time, the checkpointer, and a spare for a ping
		sqlDB.SetMaxIdleConns(3)
		readDSN += "&_pragma=query_only(1)"
	} else {
		// 12 writers and 4 readers per service: five services in one process stay within
		// PostgreSQL's default max_connections (100) with room for the relays' leases and psql.
		sqlDB.SetMaxOpenConns(12)
		sqlDB.SetMaxIdleConns(12)
	}
	if db.reads, err = sql.Open(driver, readDSN); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("open %s: %w", dialect, err)
	}
	reads := map[Dialect]int{SQLite: 8, Postgres: 4}[dialect]
	db.reads.SetMaxOpenConns(reads)
	db.reads.SetMaxIdleConns(reads)
	if err := sqlDB.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect %s: %w", dialect, err)
	}
	if dialect == SQLite {
		db.startCheckpointer()
	}
	return db, nil
}

// Close closes the database's pools.
func (db *DB) Close() error {
	if db.stopCheckpoints != nil {
		db.stopCheckpoints()
		db.checkpoints.Wait()
	}
	if db.reads != nil {
		db.reads.Close()
	}
	return db.DB.Close()
}
