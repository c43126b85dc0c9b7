package order

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/auth"
)

// BenchmarkWaiters measures what a waiting request costs the order service: it opens N waits
// (5,000 by default, one per order, as ordersys loadgen does) on pending orders and reports the
// heap and goroutine stacks they hold, per waiter, then ends every order by a cancel and times
// how long until the last wait has answered. Run it with
//
//	go test -run '^$' -bench Waiters -benchtime 1x ./internal/order/
//
// The HTTP connection each one holds (net/http's goroutine and buffers) is not counted here.
func BenchmarkWaiters(b *testing.B) {
	const n = 5000
	svc, _ := newTestService(b)
	noPoll(svc)
	svc.SetAdmission(0, 2*n) // all of them pending at once
	ids := make([]string, n)
	for i := range ids {
		p, err := svc.Create(context.Background(), uuid.NewString(), requestFromAPI(quickStart(uuid.New())))
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = p.Body.OrderID.String()
	}
	ctx := auth.NewContext(context.Background(), auth.Anyone)
	for b.Loop() {
		var before, during runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		goroutines := runtime.NumGoroutine()
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Go(func() {
				if _, ended, err := svc.Await(ctx, id, MaxWait); err != nil || !ended {
					b.Errorf("Await %s: ended %v, %v", id, ended, err)
				}
			})
		}
		for svc.watch.waiting() < n {
			time.Sleep(10 * time.Millisecond)
		}
		runtime.GC()
		runtime.ReadMemStats(&during)
		heap := float64(during.HeapInuse) - float64(before.HeapInuse)
		stack := float64(during.StackInuse) - float64(before.StackInuse)
		b.ReportMetric(heap/n, "heap-B/waiter")
		b.ReportMetric(stack/n, "stack-B/waiter")
		b.ReportMetric(float64(runtime.NumGoroutine()-goroutines)/n, "goroutines/waiter")

		start := time.Now()
		for i, id := range ids {
			if _, err := svc.Cancel(context.Background(), id, "cancel-"+uuid.NewString()); err != nil {
				b.Fatalf("cancel %d: %v", i, err)
			}
		}
		wg.Wait()
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms-to-end-all")
	}
}
