package sqlstore

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Writes whose outcome a transaction does not need to see need not cost a round trip each.
// InsertLater and ExecLater queue them; they run when the transaction commits, or, after a Flush,
// ahead of the transaction's next statement. Nothing else runs them: a statement does not see
// writes queued before it unless the code says so with Flush. Queued rows of one table become
// multi-row INSERTs. On PostgreSQL they travel in one pipeline with the statement that follows
// the Flush, or with COMMIT (see pgtx.go): a consumer applying a batch of events writes its
// outbox, its history and its updates, and commits, in one round trip.

// maxRowsPerInsert bounds one INSERT: the SQL text varies with the row count, and SQLite caches
// a prepared statement per text, so the cap also bounds that cache.
const maxRowsPerInsert = 32

// later is one queued write: a statement, or rows to insert into table.
type later struct {
	table   string
	query   string // "" for rows
	args    []any
	columns []string
	rows    [][]any
}

// statement is a query and its arguments, and the table a queued write writes.
type statement struct {
	table string
	query string
	args  []any
}

// InsertLater queues one row for table, inserted before the transaction commits. Queued writes
// run in the order they were queued, except that a row joins its table's insert if that is the
// table's last queued write, and so runs ahead of other tables' writes queued since: a row may
// refer by a foreign key only to rows queued before its table's insert began (ids from a serial
// column follow the calls). Every call for a table must name the same columns.
func (tx *Tx) InsertLater(table string, columns []string, values ...any) {
	if len(values) != len(columns) {
		panic(fmt.Sprintf("sqlstore: InsertLater %s: %d columns, %d values", table, len(columns), len(values)))
	}
	last := tx.lastQueued(table)
	if last != nil && last.query == "" && !slices.Equal(last.columns, columns) {
		panic(fmt.Sprintf("sqlstore: InsertLater %s: columns %v, earlier %v", table, columns, last.columns))
	}
	// After a queued statement, rows start a new insert so that they follow it.
	if last == nil || last.query != "" {
		last = &later{table: table, columns: columns}
		tx.pending = append(tx.pending, last)
	}
	last.rows = append(last.rows, values)
}

// ExecLater queues a statement that writes table and whose result nobody reads, run like
// InsertLater's rows, in order with the other queued writes. A failure fails the transaction, and
// a count of rows it changed is never seen, so a condition the caller relies on must already hold
// (the row locked and read in this transaction, say), or its failure must be the right outcome (a
// unique key that a concurrent transaction took first).
func (tx *Tx) ExecLater(table, query string, args ...any) {
	tx.pending = append(tx.pending, &later{table: table, query: query, args: args})
}

func (tx *Tx) lastQueued(table string) *later {
	for _, l := range slices.Backward(tx.pending) {
		if l.table == table {
			return l
		}
	}
	return nil
}

// Flush makes every write queued so far run before the transaction's next statement (on
// PostgreSQL, in that statement's round trip), so that the statement sees them.
func (tx *Tx) Flush() { tx.due = append(tx.due, tx.takeAll()...) }

// takeDue removes the flushed writes from the transaction and returns them, in order.
func (tx *Tx) takeDue() []statement {
	due := tx.due
	tx.due = nil
	return due
}

// takeAll removes every queued write from the queue and returns its statements, in order.
func (tx *Tx) takeAll() []statement { return tx.take(len(tx.pending)) }

// take removes the first n queued writes and returns their statements.
func (tx *Tx) take(n int) []statement {
	var out []statement
	taken := tx.pending[:n]
	tx.pending = slices.Clone(tx.pending[n:])
	for _, l := range taken {
		if l.query != "" {
			out = append(out, statement{l.table, l.query, l.args})
			continue
		}
		for rows := range slices.Chunk(l.rows, maxRowsPerInsert) {
			out = append(out, statement{l.table, insertSQL(l.table, l.columns, len(rows)), slices.Concat(rows...)})
		}
	}
	return out
}

// failQueued records that the queued write s failed with err.
func (tx *Tx) failQueued(s statement, err error) {
	if tx.flushErr == nil {
		tx.flushErr = fmt.Errorf("write to %s: %w", s.table, err)
	}
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
