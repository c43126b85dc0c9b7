package sqlstore

import (
	"strconv"
	"strings"
)

// In returns a condition that a column's value is one of values, to follow the column's name in a
// query that has after arguments before these, and the values as arguments. On PostgreSQL it is
// "= ANY($n)" with the values as one array, so that the query's text is the same for any number
// of values and pgx prepares it once per connection; SQLite has no arrays, so there it is
// "IN ($n, ...)" (an empty list matches nothing on both).
func (tx *Tx) In(after int, values []string) (string, []any) {
	if tx.Dialect == Postgres {
		return "= ANY($" + strconv.Itoa(after+1) + ")", []any{values}
	}
	params, args := make([]string, len(values)), make([]any, len(values))
	for i, v := range values {
		params[i], args[i] = "$"+strconv.Itoa(after+i+1), v
	}
	return "IN (" + strings.Join(params, ", ") + ")", args
}
