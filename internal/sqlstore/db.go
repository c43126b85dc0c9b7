// Package sqlstore opens a service's database (SQLite or PostgreSQL, chosen by the DSN), runs its
// embedded migrations and runs transactions with after-commit hooks. Every store in ordersys goes
// through it, so the SQL itself is written once for both databases.
package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver
)

// DB is one service's database.
type DB struct {
	*sql.DB
	Dialect *Dialect
	// Schema is the schema the service's tables live in ("" for the database's default).
	Schema string
	dsn    string

	// writeMu serialises write transactions where the database allows one writer at a time. Its
	// own busy handler would wait by sleeping in growing steps, which turns contention into
	// latency spikes; a Go lock hands the writer over at once.
	writeMu chan struct{}

	// reads runs queries outside transactions, in a pool of its own, so that a crowd of API
	// readers can never take the connections that writers need: with one shared pool, GETs under
	// load held every connection and the work that moves orders along queued behind them.
	reads *sql.DB

	stmts     sync.Map // query text -> *sql.Stmt on the write pool; see stmt.go
	readStmts sync.Map // the same on the read pool

	// The checkpointer; see checkpoint.go.
	committed       chan struct{}
	stopCheckpoints context.CancelFunc
	checkpoints     sync.WaitGroup
}

// Open connects to dsn. It does not migrate; call Migrate.
func Open(ctx context.Context, dsn string) (*DB, error) {
	d, err := dialectOf(dsn)
	if err != nil {
		return nil, err
	}
	return open(ctx, d, dsn, "")
}

// OpenService connects to one service's database. On PostgreSQL, services share a database and
// each keeps its tables in a schema of its own, named after it and created if missing. On SQLite
// dsn names the file itself, whose directory is likewise created if missing.
func OpenService(ctx context.Context, dsn, service string) (*DB, error) {
	d, err := dialectOf(dsn)
	if err != nil {
		return nil, err
	}
	return d.openService(ctx, d, dsn, service)
}

func open(ctx context.Context, d *Dialect, dsn, schema string) (*DB, error) {
	driverDSN, err := d.connString(dsn, schema)
	if err != nil {
		return nil, err
	}
	sqlDB, err := sql.Open(d.driver, driverDSN+d.writerParams)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", d.Name, err)
	}
	db := &DB{DB: sqlDB, Dialect: d, Schema: schema, dsn: driverDSN}
	sqlDB.SetMaxOpenConns(d.writeConns)
	sqlDB.SetMaxIdleConns(d.writeConns)
	if d.oneWriter {
		db.writeMu = make(chan struct{}, 1)
	}
	if db.reads, err = sql.Open(d.driver, driverDSN+d.readerParams); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("open %s: %w", d.Name, err)
	}
	db.reads.SetMaxOpenConns(d.readConns)
	db.reads.SetMaxIdleConns(d.readConns)
	if err := sqlDB.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect %s: %w", d.Name, err)
	}
	if d.oneWriter {
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

// Pools are the database's connection pools: the one transactions use and the one for reads.
func (db *DB) Pools() []*sql.DB { return []*sql.DB{db.DB, db.reads} }
