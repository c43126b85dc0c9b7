package sqlstore

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
)

// Postgres is a PostgreSQL server that every process of a service, and every service, shares:
// services keep their tables in a schema each, and every statement is a network round trip.
var Postgres = &Dialect{
	Name:   "postgres",
	system: semconv.DBSystemNamePostgreSQL,
	// A transaction locks only the rows it touches, and a larger batch costs no more round
	// trips than a small one (docs/performance.md has the measurements).
	BatchSize:  128,
	Networked:  true,
	prefixes:   []string{"postgres://", "postgresql://"},
	check:      checkPostgresURL,
	driver:     "pgx",
	goose:      goose.DialectPostgres,
	connString: withSearchPath,
	migrations: "postgres",
	openService: func(ctx context.Context, d *Dialect, dsn, service string) (*DB, error) {
		db, err := open(ctx, d, dsn, service)
		if err != nil {
			return nil, err
		}
		if _, err := db.DB.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+quoteIdent(service)); err != nil {
			db.Close()
			return nil, fmt.Errorf("create schema %s: %w", service, err)
		}
		return db, nil
	},
	// Five services in one process stay within PostgreSQL's default max_connections (100), with
	// room for the relays' leases and psql.
	writeConns:    12,
	readConns:     4,
	migrationLock: true,
	vacuum:        true,
	lockRows:      ` COLLATE "C" FOR UPDATE`,
	byteOrder:     ` COLLATE "C"`,
	in:            anyArray,
	run:           (*Tx).runPostgres,
	deleteIDsThen: pgDeleteIDsThen,
}

// checkPostgresURL refuses a URL that Go or pgx cannot parse. Their errors quote the URL, or the
// piece of it that is wrong, and pgx's wrap Go's: neither reaches the caller.
func checkPostgresURL(dsn string) error {
	if _, err := url.Parse(dsn); err != nil {
		return urlError(err)
	}
	if _, err := pgx.ParseConfig(dsn); err != nil {
		// pgx's message is "cannot parse `URL`: what is wrong": keep what is wrong, show the URL
		// as Redacted does.
		msg := err.Error()
		if i := strings.LastIndex(msg, "`: "); i >= 0 {
			msg = msg[i+len("`: "):]
		}
		return fmt.Errorf("database URL %s: %s", Redacted(dsn), msg)
	}
	return nil
}

// withSearchPath points every connection of a PostgreSQL URL at one schema.
func withSearchPath(dsn, schema string) (string, error) {
	if schema == "" {
		return dsn, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", urlError(err)
	}
	q := u.Query()
	q.Set("search_path", quoteIdent(schema))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// anyArray is "= ANY($n)" with the values as one array, so that the query's text is the same for
// any number of values and pgx prepares it once per connection.
func anyArray(after int, values []string) (string, []any) {
	return "= ANY($" + strconv.Itoa(after+1) + ")", []any{values}
}

// pgDeleteIDsThen sends the delete and the read in one pipeline: one round trip and one
// transaction, whose commit does not wait for its WAL to be flushed.
func pgDeleteIDsThen(ctx context.Context, db *DB, table string, ids []int64, read Read) error {
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
		if read.Query != "" {
			b.Queue(read.Query, read.Args...)
		}
		if len(ids) > 0 {
			b.Queue(`COMMIT`)
		}
		if b.Len() == 0 {
			return nil
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
		if read.Query != "" {
			if err := readNext(br, read); err != nil {
				return err
			}
		}
		return br.Close()
	})
}
