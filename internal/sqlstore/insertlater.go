package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Rows written in a transaction need not cost a statement each: InsertLater queues them, and the
// transaction inserts each table's rows with multi-row INSERTs just before it commits, or just
// before one of its own statements names that table, so it always reads its own writes. On
// PostgreSQL every statement is a round trip, so a consumer applying a batch of 32 events writes
// its outbox in one statement, not 32.

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
// column follow it). Every call for a table must name the same columns. Queue only rows that no
// other row refers to by a foreign key: across tables the inserts need not follow the calls, and
// a statement that reaches a queued table only through a constraint does not name it.
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
	pending := tx.pending
	tx.pending = nil
	for _, p := range pending {
		if err := tx.insert(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// flushFor runs the queued inserts of every table that query names, before query runs. A name
// counts when it stands as a whole word; a false match only flushes early. A failure is returned
// and also kept, so that the transaction reports it (and rolls back) even where the statement
// about to run cannot return it.
func (tx *Tx) flushFor(ctx context.Context, query string) error {
	if tx.flushErr != nil || len(tx.pending) == 0 {
		return tx.flushErr
	}
	kept := tx.pending[:0:0]
	var named []*pendingInsert
	for _, p := range tx.pending {
		if namesTable(query, p.table) {
			named = append(named, p)
		} else {
			kept = append(kept, p)
		}
	}
	if len(named) == 0 {
		return nil
	}
	tx.pending = kept
	for _, p := range named {
		if err := tx.insert(ctx, p); err != nil {
			tx.flushErr = err
			return err
		}
	}
	return nil
}

func (tx *Tx) insert(ctx context.Context, p *pendingInsert) error {
	for rows := range slices.Chunk(p.rows, maxRowsPerInsert) {
		if _, err := tx.exec(ctx, insertSQL(p.table, p.columns, len(rows)), slices.Concat(rows...)...); err != nil {
			return fmt.Errorf("insert into %s: %w", p.table, err)
		}
	}
	return nil
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
