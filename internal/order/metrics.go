package order

import (
	"context"

	"github.com/ordersys/ordersys/internal/metrics"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// SetMetrics makes the service record its orders and saga steps in m, and report the orders in
// each non-terminal status.
func (s *Service) SetMetrics(m *metrics.Metrics) {
	s.metrics = m
	m.WatchSagaOrders(s.countInFlight)
	var steps []string
	for _, st := range []Status{Pending, Payment, Inventory, Fulfillment, Compensating} {
		steps = append(steps, stepName(st))
	}
	m.DeclareSteps(steps...)
}

// countInFlight counts the orders in each non-terminal status. Every one has a step deadline, and
// that column is indexed, so the count reads the orders in flight, not the table.
func (s *Service) countInFlight(ctx context.Context) (map[string]int, error) {
	byStatus := map[string]int{}
	for _, st := range []Status{Pending, Payment, Inventory, Fulfillment, Compensating} {
		byStatus[string(st)] = 0 // a status no order is in reads 0, not nothing
	}
	_, err := sqlstore.Collect(ctx, s.db, func(r sqlstore.Scanner) (struct{}, error) {
		var status string
		var n int
		err := r.Scan(&status, &n)
		byStatus[status] = n
		return struct{}{}, err
	}, `SELECT status, COUNT(*) FROM orders WHERE step_deadline IS NOT NULL GROUP BY status`)
	return byStatus, err
}
