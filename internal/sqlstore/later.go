package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Writes whose outcome a transaction does not need to see need not cost a round trip each.
// InsertLater and ExecLater queue them, and the transaction runs them just before it commits, or
// just before one of its own statements names their table, so it always reads its own writes.
// Queued rows of one table become multi-row INSERTs. On PostgreSQL the queued statements also
// travel in one pipeline with the statement that needed them, or with COMMIT (see pgtx.go): a
// consumer applying a batch of events writes its outbox, its history and its updates, and commits,
// in one round trip.

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
// column follow the calls). Every call for a table must name the same columns. A statement that
// reaches a queued table only through a constraint (a cascade) does not name it, so it does not
// run the table's queued writes first.
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

// takeFor removes the queued writes that must run before query, and returns their statements:
// every write queued up to the last one to a table that query names, so that writes always run
// in the order they were queued. A name counts when it stands as a whole word; a false match only
// runs writes early (on PostgreSQL, in the same round trip as query anyway).
func (tx *Tx) takeFor(query string) []statement {
	last := -1
	for i, l := range tx.pending {
		if namesTable(query, l.table) {
			last = i
		}
	}
	return tx.take(last + 1)
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

// runQueued runs statements taken from the queue one by one (SQLite's way; PostgreSQL pipelines
// them instead). A failure is returned and also kept, so that the transaction reports it, and
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

// failQueued records that the queued write s failed with err.
func (tx *Tx) failQueued(s statement, err error) {
	if tx.flushErr == nil {
		tx.flushErr = fmt.Errorf("write to %s: %w", s.table, err)
	}
}

// namesTable reports whether table occurs in query as a whole identifier.
func namesTable(query, table string) bool {
	for i := 0; ; {
		j := strings.Index(query[i:], table)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(table)
		if (start == 0 || !isIdentByte(query[start-1])) && (end == len(query) || !isIdentByte(query[end])) {
			return true
		}
		i = start + 1
	}
}

func isIdentByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
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
