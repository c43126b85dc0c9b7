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
// that column is indexed, so the query reads the orders in flight, not the table; they are
// counted here, since with a GROUP BY status SQLite's planner walks the status index instead,
// every order there is.
func (s *Service) countInFlight(ctx context.Context) (map[string]int, error) {
	byStatus := map[string]int{}
	for _, st := range []Status{Pending, Payment, Inventory, Fulfillment, Compensating} {
		byStatus[string(st)] = 0 // a status no order is in reads 0, not nothing
	}
	_, err := sqlstore.Collect(ctx, s.db, func(r sqlstore.Scanner) (struct{}, error) {
		var status string
		err := r.Scan(&status)
		byStatus[status]++
		return struct{}{}, err
	}, inFlightQuery)
	return byStatus, err
}

// inFlightQuery is countInFlight's.
const inFlightQuery = `SELECT status FROM orders WHERE step_deadline IS NOT NULL`
