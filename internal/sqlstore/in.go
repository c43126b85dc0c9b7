package sqlstore

import (
	"strconv"
	"strings"
)

// In returns "($1, $2, ...)" for an IN list of values, and the values as query arguments. Its text
// varies with len(values), so callers keep lists short (a batch) to bound SQLite's statement cache.
func In[T any](values []T) (string, []any) { return InAfter(0, values) }

// InAfter is In for a query that has n arguments before the list: its first is $n+1.
func InAfter[T any](n int, values []T) (string, []any) {
	params, args := make([]string, len(values)), make([]any, len(values))
	for i, v := range values {
		params[i], args[i] = "$"+strconv.Itoa(n+i+1), v
	}
	return "(" + strings.Join(params, ", ") + ")", args
}
