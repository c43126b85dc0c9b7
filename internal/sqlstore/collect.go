package sqlstore

import "context"

// Scanner is a row to scan: a Rows, or a single row from QueryRowContext.
type Scanner interface{ Scan(dest ...any) error }

// Collect runs query and turns every row into a T with scan.
func Collect[T any](ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (Rows, error)
}, scan func(Scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
