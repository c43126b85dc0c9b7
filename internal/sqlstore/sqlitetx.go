package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
)

// On SQLite a transaction runs on database/sql, under the writer lock (DB.writeMu), and each
// statement through the statement cache (stmt.go). In process, a statement costs no round trip,
// so the writes a Flush released run one by one just before the next statement.

func (tx *Tx) runSQLite(ctx context.Context, fn func(*Tx) error) error {
	db := tx.db
	select {
	case db.writeMu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-db.writeMu }()
	tx.stmts = sqliteTx{tx}
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

// sqliteTx runs a transaction's statements on SQLite.
type sqliteTx struct{ *Tx }

func (tx sqliteTx) exec(ctx context.Context, query string, args []any) (sql.Result, error) {
	if err := tx.runQueued(ctx, tx.takeDue()); err != nil {
		return nil, err
	}
	return tx.sqliteExec(ctx, query, args...)
}

func (tx sqliteTx) query(ctx context.Context, query string, args []any) (Rows, error) {
	if err := tx.runQueued(ctx, tx.takeDue()); err != nil {
		return nil, err
	}
	s, err := tx.sqliteStmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

func (tx sqliteTx) queryAll(ctx context.Context, reads []Read) error {
	for _, r := range reads {
		rows, err := tx.query(ctx, r.Query, r.Args)
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

func (tx sqliteTx) queryRow(ctx context.Context, query string, args []any) Scanner {
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

// runQueued runs statements taken from the queue one by one. A failure is returned and also kept, so that the transaction reports it, and
// rolls back, even where the statement that needed the writes cannot return it.
func (tx *Tx) runQueued(ctx context.Context, stmts []statement) error {
	for _, s := range stmts {
		if _, err := tx.sqliteExec(ctx, s.query, s.args...); err != nil {
			tx.failQueued(s, err)
			return tx.flushErr
		}
	}
	return nil
}
