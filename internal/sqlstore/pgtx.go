package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// On PostgreSQL a transaction speaks pgx's own protocol on a connection of the write pool, since
// database/sql cannot pipeline, and a statement's round trip costs the server more than running
// it does (docs/performance.md). So a transaction sends BEGIN with its first statement, the
// writes a Flush released with the statement after it, and whatever is still queued with COMMIT.
// A transaction that never ran a statement sends nothing at all.

func (tx *Tx) runPostgres(ctx context.Context, fn func(*Tx) error) error {
	conn, err := tx.db.DB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	// database/sql drops a connection that comes back closed or still inside a transaction.
	defer conn.Close()
	var txErr error
	if err := conn.Raw(func(driverConn any) error {
		tx.pg = driverConn.(*stdlib.Conn).Conn()
		tx.stmts = pgTx{tx}
		txErr = tx.pgRun(ctx, fn)
		return nil
	}); err != nil {
		return err
	}
	return txErr
}

func (tx *Tx) pgRun(ctx context.Context, fn func(*Tx) error) error {
	err := fn(tx)
	if err == nil {
		err = tx.flushErr
	}
	if err == nil {
		err = tx.pgCommit(ctx)
	}
	if err != nil {
		tx.pgRollback(ctx)
		return tx.cause(err)
	}
	return nil
}

func (tx *Tx) pgCommit(ctx context.Context) error {
	tx.Flush()
	queued := tx.takeDue()
	if !tx.begun && len(queued) == 0 {
		return nil
	}
	br, err := tx.send(ctx, queued, statement{query: "COMMIT"})
	if err != nil {
		return err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if tag.String() != "COMMIT" { // PostgreSQL answers ROLLBACK to the COMMIT of a failed transaction
		return fmt.Errorf("commit: the transaction was rolled back (%s)", tag)
	}
	return nil
}

func (tx *Tx) pgRollback(ctx context.Context) {
	if !tx.begun || tx.pg.IsClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, _ = tx.pg.Exec(ctx, "ROLLBACK") // if this fails, the pool drops the connection
}

// send sends, in one pipeline, BEGIN if the transaction has not begun, the queued writes, and the
// statements last. It reads the results of all but last, whose results are left for the caller to
// read before closing the batch.
func (tx *Tx) send(ctx context.Context, queued []statement, last ...statement) (pgx.BatchResults, error) {
	var b pgx.Batch
	begin := !tx.begun
	if begin {
		b.Queue("BEGIN")
	}
	for _, s := range queued {
		b.Queue(s.query, s.args...)
	}
	for _, s := range last {
		b.Queue(s.query, s.args...)
	}
	tx.begun = true
	br := tx.pg.SendBatch(ctx, &b)
	if begin {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, fmt.Errorf("begin: %w", err)
		}
	}
	for _, s := range queued {
		if _, err := br.Exec(); err != nil {
			br.Close()
			tx.failQueued(s, err)
			return nil, tx.flushErr
		}
	}
	return br, nil
}

// pgTx runs a transaction's statements on PostgreSQL.
type pgTx struct{ *Tx }

func (tx pgTx) exec(ctx context.Context, query string, args []any) (sql.Result, error) {
	br, err := tx.send(ctx, tx.takeDue(), statement{query: query, args: args})
	if err != nil {
		return nil, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return pgResult(tag), nil
}

func (tx pgTx) query(ctx context.Context, query string, args []any) (Rows, error) {
	br, err := tx.send(ctx, tx.takeDue(), statement{query: query, args: args})
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &pgRows{Rows: rows, br: br}, nil
}

func (tx pgTx) queryAll(ctx context.Context, reads []Read) error {
	last := make([]statement, len(reads))
	for i, r := range reads {
		last[i] = statement{query: r.Query, args: r.Args}
	}
	br, err := tx.send(ctx, tx.takeDue(), last...)
	if err != nil {
		return err
	}
	defer br.Close()
	for _, r := range reads {
		if err := readNext(br, r); err != nil {
			return err
		}
	}
	return br.Close()
}

// readNext hands the next result of a batch to r and closes its rows.
func readNext(br pgx.BatchResults, r Read) error {
	rows, err := br.Query()
	if err == nil {
		err = r.Rows(&pgRows{Rows: rows})
		rows.Close()
	}
	if err == nil {
		err = rows.Err()
	}
	return err
}

func (tx pgTx) queryRow(ctx context.Context, query string, args []any) Scanner {
	rows, err := tx.query(ctx, query, args)
	if err != nil {
		return errRow{err}
	}
	return pgRow{rows}
}

// pgRows are pgx's rows as Rows, closing the batch they came from, if any, along with them.
type pgRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r *pgRows) Close() error {
	r.Rows.Close()
	err := r.Rows.Err()
	if r.br == nil {
		return err
	}
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

// pgRow is the first row of a query, as *sql.Row would give it.
type pgRow struct{ rows Rows }

func (r pgRow) Scan(dest ...any) error {
	err := sql.ErrNoRows
	if r.rows.Next() {
		err = r.rows.Scan(dest...)
	}
	if cerr := r.rows.Close(); cerr != nil {
		return cerr
	}
	return err
}

// pgResult is a statement's command tag as a sql.Result.
type pgResult pgconn.CommandTag

func (r pgResult) RowsAffected() (int64, error) { return pgconn.CommandTag(r).RowsAffected(), nil }

func (r pgResult) LastInsertId() (int64, error) {
	return 0, errors.New("PostgreSQL has no LastInsertId; use RETURNING")
}
