package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Rows that no statement in the transaction reads back (outbox messages, history entries) need
// not cost a statement each: InsertLater queues them and the transaction inserts each table's
// rows with multi-row INSERTs just before it commits. On PostgreSQL every statement is a round
// trip, so a consumer applying a batch of 32 events writes its outbox in one statement, not 32.

// maxRowsPerInsert bounds one INSERT: the SQL text varies with the row count, and SQLite caches
// a prepared statement per text, so the cap also bounds that cache.
const maxRowsPerInsert = 32

// pendingInsert is one table's queued rows.
type pendingInsert struct {
	table   string
	columns []string
	rows    [][]any
}

// InsertLater queues one row for table, inserted before the transaction commits, after every
// row queued before it for that table (rows of one table keep their order; ids from a serial
// column follow it). Every call for a table must name the same columns.
func (tx *Tx) InsertLater(table string, columns []string, values ...any) {
	if len(values) != len(columns) {
		panic(fmt.Sprintf("sqlstore: InsertLater %s: %d columns, %d values", table, len(columns), len(values)))
	}
	i := slices.IndexFunc(tx.pending, func(p *pendingInsert) bool { return p.table == table })
	if i < 0 {
		tx.pending = append(tx.pending, &pendingInsert{table: table, columns: columns})
		i = len(tx.pending) - 1
	}
	p := tx.pending[i]
	if !slices.Equal(p.columns, columns) {
		panic(fmt.Sprintf("sqlstore: InsertLater %s: columns %v, earlier %v", table, columns, p.columns))
	}
	p.rows = append(p.rows, values)
}

// flushInserts runs the queued inserts, in the order their tables were first queued.
func (tx *Tx) flushInserts(ctx context.Context) error {
	for _, p := range tx.pending {
		for rows := range slices.Chunk(p.rows, maxRowsPerInsert) {
			if _, err := tx.ExecContext(ctx, insertSQL(p.table, p.columns, len(rows)), slices.Concat(rows...)...); err != nil {
				return fmt.Errorf("insert into %s: %w", p.table, err)
			}
		}
	}
	tx.pending = nil
	return nil
}

// insertSQL is INSERT INTO table (columns) VALUES ($1, ...), (...), with n rows.
func insertSQL(table string, columns []string, n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES ")
	arg := 1
	for r := range n {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range columns {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteString("$" + strconv.Itoa(arg))
			arg++
		}
		b.WriteByte(')')
	}
	return b.String()
}
