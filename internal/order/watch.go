package order

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ordersys/ordersys/internal/auth"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// MaxWait is the longest wait for an order to end that one request may ask for: the HTTP
// server's write timeout (60 s) must leave room to answer after it.
const MaxWait = 50 * time.Second

// DefaultWatchPoll is how often a process asks the database about the orders it has waiters
// for: another replica may have committed their end, which this process hears nothing of.
const DefaultWatchPoll = time.Second

// watchBatch bounds the ids of one poll query (SQLite takes them as one parameter each).
const watchBatch = 500

// watchers are the requests waiting for orders to end in this process. The transactions that
// end an order wake its waiters after commit; while there are any, one query per watchBatch
// orders every poll interval finds those that another process ended. With none, nothing runs.
type watchers struct {
	poll  time.Duration
	ended func(ctx context.Context, ids []string) ([]string, error) // which of ids have ended

	mu      sync.Mutex
	byOrder map[string][]chan struct{} // closed when the order ends
	polling bool                       // the poll loop runs

	stop     chan struct{} // closed when the server shuts down: every wait answers at once
	stopOnce sync.Once
}

func newWatchers(poll time.Duration, ended func(context.Context, []string) ([]string, error)) *watchers {
	return &watchers{poll: poll, ended: ended, byOrder: map[string][]chan struct{}{}, stop: make(chan struct{})}
}

// StopWaiting makes every wait, now and later, answer with the order as it is, so that a server
// shutting down does not hold its last requests until their timeouts.
func (s *Service) StopWaiting() { s.watch.stopOnce.Do(func() { close(s.watch.stop) }) }

// add registers a waiter for order id: the channel is closed when it ends.
func (w *watchers) add(id string) chan struct{} {
	ch := make(chan struct{})
	w.mu.Lock()
	defer w.mu.Unlock()
	w.byOrder[id] = append(w.byOrder[id], ch)
	if !w.polling && w.ended != nil {
		w.polling = true
		go w.run()
	}
	return ch
}

// remove unregisters a waiter that stops waiting (if end has not already).
func (w *watchers) remove(id string, ch chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	chs := w.byOrder[id]
	if i := slices.Index(chs, ch); i >= 0 {
		chs = slices.Delete(chs, i, i+1)
	}
	if len(chs) == 0 {
		delete(w.byOrder, id)
	} else {
		w.byOrder[id] = chs
	}
}

// end wakes every waiter of order id, which has ended.
func (w *watchers) end(id string) {
	w.mu.Lock()
	chs := w.byOrder[id]
	delete(w.byOrder, id)
	w.mu.Unlock()
	for _, ch := range chs {
		close(ch)
	}
}

// waiting counts the registered waiters.
func (w *watchers) waiting() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, chs := range w.byOrder {
		n += len(chs)
	}
	return n
}

// watched lists the orders with waiters; none stops the poll loop, under the lock that add
// starts it under, so that a waiter never goes without one.
func (w *watchers) watched() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.byOrder) == 0 {
		w.polling = false
		return nil
	}
	ids := make([]string, 0, len(w.byOrder))
	for id := range w.byOrder {
		ids = append(ids, id)
	}
	return ids
}

// run polls the database for the watched orders that other processes ended, until none is
// watched.
func (w *watchers) run() {
	t := time.NewTicker(w.poll)
	defer t.Stop()
	for range t.C {
		ids := w.watched()
		if ids == nil {
			return
		}
		for chunk := range slices.Chunk(ids, watchBatch) {
			ctx, cancel := context.WithTimeout(context.Background(), w.poll)
			ended, _ := w.ended(ctx, chunk) // a failed poll is retried at the next tick
			cancel()
			for _, id := range ended {
				w.end(id)
			}
		}
	}
}

// endedOrders returns which of ids have ended. It reads the orders by id and checks their
// status here: with the status in the query, SQLite's planner walks the status index, every
// order that ever ended, rather than look the ids up.
func (s *Service) endedOrders(ctx context.Context, ids []string) ([]string, error) {
	in, args := s.db.In(0, ids)
	type order struct {
		id     string
		status Status
	}
	orders, err := sqlstore.Collect(ctx, s.db, func(r sqlstore.Scanner) (o order, err error) {
		return o, r.Scan(&o.id, &o.status)
	}, watchQuery+in, args...)
	if err != nil {
		return nil, fmt.Errorf("read ended orders: %w", err)
	}
	var ended []string
	for _, o := range orders {
		if o.status.Terminal() {
			ended = append(ended, o.id)
		}
	}
	return ended, nil
}

// watchQuery is endedOrders' query, but for its list of ids.
const watchQuery = `SELECT id, status FROM orders WHERE id `

// Await returns order id once it has ended (ended true), or as it is when timeout passes. An order
// the caller may not see is not found, at once. It returns early with ctx's error when ctx ends.
func (s *Service) Await(ctx context.Context, id string, timeout time.Duration) (o *Order, ended bool, err error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		// Registered before the read: an end committed after it wakes this waiter.
		ch := s.watch.add(id)
		o, err = s.Get(ctx, id)
		if err == nil && !auth.FromContext(ctx).Sees(o.CustomerID) {
			err = ErrNotFound // another customer's order is not there, waiting or not
		}
		if err != nil || o.Status.Terminal() {
			s.watch.remove(id, ch)
			return o, err == nil, err
		}
		o = nil // not held while waiting: it is read again at the end
		select {
		case <-ch:
			continue // read it again: it has ended
		case <-timer.C:
		case <-s.watch.stop:
		case <-ctx.Done():
			s.watch.remove(id, ch)
			return nil, false, ctx.Err()
		}
		s.watch.remove(id, ch)
		o, err = s.Get(ctx, id)
		return o, err == nil && o.Status.Terminal(), err
	}
}
