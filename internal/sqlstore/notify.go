package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
)

// Notify wakes the listeners of channel in other processes (a NOTIFY on PostgreSQL, nothing on
// SQLite, where only one process uses the database). It runs in a transaction of its own: NOTIFY
// serialises the commits of every transaction that sends one (bench/pg-notify.sh measures it), so
// it must stay off the write path.
func (db *DB) Notify(ctx context.Context, channel string) error {
	if !db.Dialect.Networked {
		return nil
	}
	if _, err := db.DB.ExecContext(ctx, `SELECT pg_notify($1, '')`, db.channel(channel)); err != nil {
		return fmt.Errorf("notify %s: %w", channel, err)
	}
	return nil
}

// channel scopes a notification channel to the service: channels are per database, schemas are not.
func (db *DB) channel(name string) string {
	if db.Schema == "" {
		return name
	}
	return db.Schema + "_" + name
}

// Lease is the right to be the one active worker of a kind (the outbox relay) for this database.
// On PostgreSQL it is a session advisory lock held on a dedicated connection, which also listens
// for notifications; when the process dies the session ends and another replica takes over. On
// SQLite only one process can use the database anyway, so the lease is always held.
type Lease struct {
	conn   *pgx.Conn // nil on SQLite
	notify chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// Acquire blocks until this process holds the lease named key, or ctx ends. listen names a
// notification channel whose notifications arrive on Notifications().
func (db *DB) Acquire(ctx context.Context, key, listen string, retry time.Duration) (*Lease, error) {
	l := &Lease{notify: make(chan struct{}, 1), done: make(chan struct{})}
	if !db.Dialect.Networked {
		close(l.done)
		return l, nil
	}
	cfg, err := leaseConfig(db.dsn)
	if err != nil {
		return nil, err
	}
	lockID := lockID(db.Schema + "/" + key)
	for {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			var got bool
			if err = conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockID).Scan(&got); err == nil && got {
				if _, err = conn.Exec(ctx, `LISTEN `+quoteIdent(db.channel(listen))); err == nil {
					l.conn = conn
					l.listen(ctx)
					return l, nil
				}
			}
			conn.Close(context.WithoutCancel(ctx))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(retry):
		}
	}
}

// leaseConfig is how a lease connects. The lock lasts as long as the session, so each end must
// notice a peer that vanished without closing the connection (power lost, a network cut): the
// server probes a silent client after 5 s and ends its session about 11 s after the client went,
// freeing the lock for another replica (the operating system's defaults take over two hours), and
// the client probes the server alike, so that Lost fires. Unix sockets ignore both.
func leaseConfig(dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("lease: %w", err)
	}
	cfg.RuntimeParams["tcp_keepalives_idle"] = "5"
	cfg.RuntimeParams["tcp_keepalives_interval"] = "2"
	cfg.RuntimeParams["tcp_keepalives_count"] = "3"
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: 5 * time.Second, Interval: 2 * time.Second, Count: 3}}
	cfg.DialFunc = dialer.DialContext
	return cfg, nil
}

// listen forwards notifications until the lease is released or its connection fails.
func (l *Lease) listen(ctx context.Context) {
	ctx, l.cancel = context.WithCancel(ctx)
	go func() {
		defer close(l.done)
		for {
			if _, err := l.conn.WaitForNotification(ctx); err != nil {
				return
			}
			select {
			case l.notify <- struct{}{}:
			default:
			}
		}
	}()
}

// Notifications delivers a value after notifications arrive (several may fold into one).
func (l *Lease) Notifications() <-chan struct{} { return l.notify }

// Lost is closed when the lease can no longer be trusted: its connection failed.
func (l *Lease) Lost() <-chan struct{} {
	if l.conn == nil {
		return nil // never lost on SQLite
	}
	return l.done
}

// Release gives the lease up.
func (l *Lease) Release() error {
	if l.conn == nil {
		return nil
	}
	l.cancel()
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(l.conn.Close(ctx))
}

// lockID maps a name to a PostgreSQL advisory lock id.
func lockID(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64())
}
