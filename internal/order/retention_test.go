package order

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/storetest"
)

func insertKey(t *testing.T, db *sqlstore.DB, scope, key string, at time.Time) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), `INSERT INTO idempotency_keys
		(scope, idem_key, request_hash, status_code, response, created_at) VALUES ($1, $2, 'h', 201, '{}', $3)`,
		scope, key, at.UTC()); err != nil {
		t.Fatalf("insert key %s: %v", key, err)
	}
}

// storedKeys lists the idempotency keys as "scope key", sorted.
func storedKeys(t *testing.T, db *sqlstore.DB) []string {
	t.Helper()
	return slices.Sorted(slices.Values(storetest.Strings(t, db, `SELECT scope || ' ' || idem_key FROM idempotency_keys`)))
}

func TestPruneIdempotencyKeys(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		ctx := t.Context()
		svc.IdempotencyTTL = 24 * time.Hour
		now := time.Now().UTC().Truncate(time.Microsecond)
		cutoff := now.Add(-svc.IdempotencyTTL)

		// 30 expired keys over two scopes, one key name in both (the key is the pair), the newest
		// just before the cutoff; 10 live ones, the oldest just after it.
		var want []string
		for i := range 30 {
			scope := []string{createScope, "other"}[i%2]
			at := cutoff.Add(-time.Duration(i)*time.Hour - time.Duration(i*i*7919)*time.Microsecond)
			if i == 0 {
				at = cutoff.Add(-time.Millisecond)
			}
			insertKey(t, db, scope, fmt.Sprintf("old-%02d", i), at)
		}
		insertKey(t, db, "other", "shared", cutoff.Add(-time.Hour))
		for i := range 10 {
			scope := []string{createScope, "other"}[i%2]
			at := cutoff.Add(time.Duration(i)*time.Hour + time.Duration(i*i*7919)*time.Microsecond)
			if i == 0 {
				at = cutoff.Add(time.Millisecond)
			}
			key := fmt.Sprintf("new-%02d", i)
			insertKey(t, db, scope, key, at)
			want = append(want, scope+" "+key)
		}
		insertKey(t, db, createScope, "shared", now)
		want = append(want, createScope+" shared")
		// And one stored by Create itself, just now.
		key, req := "created-"+uuid.NewString(), quickStart(uuid.New())
		mustCreate(t, svc, key, req)
		want = append(want, createScope+" "+key)
		slices.Sort(want)

		// now in another time zone is the same instant.
		n, err := svc.PruneIdempotencyKeys(ctx, now.In(time.FixedZone("UTC-7", -7*3600)), 4)
		if err != nil {
			t.Fatalf("PruneIdempotencyKeys: %v", err)
		}
		if n != 31 {
			t.Errorf("PruneIdempotencyKeys deleted %d keys, want 31", n)
		}
		if got := storedKeys(t, db); !slices.Equal(got, want) {
			t.Errorf("keys after pruning =\n%v\nwant\n%v", got, want)
		}
		if n, err := svc.PruneIdempotencyKeys(ctx, now, 4); err != nil || n != 0 {
			t.Errorf("second PruneIdempotencyKeys = %d, %v; want 0, nil", n, err)
		}

		// The key Create stored still answers.
		if p := mustCreate(t, svc, key, req); !p.Replayed {
			t.Errorf("the same request again was not replayed from its key: %+v", p)
		}

		// Once the TTL has passed for everything, everything goes, Create's key included.
		later := now.Add(svc.IdempotencyTTL + 10*time.Hour)
		if n, err := svc.PruneIdempotencyKeys(ctx, later, 0); err != nil || n != int64(len(want)) {
			t.Errorf("PruneIdempotencyKeys later = %d, %v; want %d, nil", n, err, len(want))
		}
		if got := storedKeys(t, db); len(got) != 0 {
			t.Errorf("keys left: %v", got)
		}

		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := svc.PruneIdempotencyKeys(cancelled, now, 4); !errors.Is(err, context.Canceled) {
			t.Errorf("PruneIdempotencyKeys with a cancelled context: %v, want context.Canceled", err)
		}
	})
}
