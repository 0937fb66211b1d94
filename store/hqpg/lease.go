package hqpg

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// A Lease elects one leader among the processes sharing the database, for
// work that one replica must do at a time (publishing manifests). It is a
// session-level advisory lock held on a connection of its own:
//
//   - a leader that dies (SIGKILL, crash) closes its socket, PostgreSQL
//     ends the session and frees the lock, and a follower, which tries for
//     it every TTL/5, gets it within about TTL/5;
//   - the session is set to end when idle for TTL (idle_session_timeout),
//     and the holder renews every TTL/5, so a holder cut off from the
//     database (or stalled) loses the lock at most TTL after its last
//     renewal reached the server;
//   - a holder counts itself leader only until 3/5 TTL after it sent its
//     last successful renewal, so it has stopped before the server frees
//     the lock on its own;
//   - a new holder waits 3/5 TTL before it leads, so a previous holder
//     whose session was cut short (pg_terminate_backend, a server restart)
//     has stopped counting itself leader by then.
//
// So at most one process leads at a time, given clocks that run at the
// same rate, and a dead leader is replaced within about 4/5 TTL.
type Lease struct {
	cfg  *pgx.ConnConfig
	name string
	key  int64
	ttl  time.Duration
	log  *slog.Logger

	base  time.Time    // monotonic origin of from and until
	from  atomic.Int64 // leader from base+from ...
	until atomic.Int64 // ... until base+until; 0: not holding
}

// Lease returns a lease named name (replicas that use the same name elect
// one leader) with the given TTL (default 5 s). Run takes part.
func (s *Store) Lease(name string, ttl time.Duration) *Lease {
	if ttl <= 0 {
		ttl = 5 * time.Second
	}
	h := fnv.New64a()
	h.Write([]byte("venuebox lease\x00" + name))
	cfg := s.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = "venuebox lease " + name
	return &Lease{cfg: cfg, name: name, key: int64(h.Sum64()), ttl: ttl, log: s.log.With("lease", name), base: time.Now()}
}

// String names the lease.
func (l *Lease) String() string { return "lease{" + l.name + "}" }

// TTL returns the lease's time to live.
func (l *Lease) TTL() time.Duration { return l.ttl }

// Leading reports whether this process leads now.
func (l *Lease) Leading() bool {
	u := l.until.Load()
	now := int64(time.Since(l.base))
	return u > 0 && now >= l.from.Load() && now < u
}

// Run takes part in the election until ctx ends, then frees the lease if
// it holds it. changed, if not nil, is told each time this process starts
// leading (true) or stops (false), as Run observes it.
func (l *Lease) Run(ctx context.Context, changed func(leading bool)) error {
	every := l.ttl / 5
	grace := l.ttl * 3 / 5
	announced := false
	announce := func() {
		if now := l.Leading(); now != announced {
			announced = now
			if now {
				l.log.Info("lease taken: this replica leads")
			} else {
				l.log.Info("lease lost: this replica no longer leads")
			}
			if changed != nil {
				changed(now)
			}
		}
	}
	drop := func() {
		l.until.Store(0)
		announce()
	}
	defer drop()
	for ctx.Err() == nil {
		conn, err := l.connect(ctx)
		if err != nil {
			if ctx.Err() == nil {
				l.log.Warn("lease: no connection to the database", "err", err)
			}
			sleep(ctx, every)
			continue
		}
		held := false
		for ctx.Err() == nil {
			sent := time.Since(l.base)
			qctx, cancel := context.WithTimeout(ctx, 2*every)
			var ok bool
			if held {
				err = conn.QueryRow(qctx, `SELECT true`).Scan(&ok)
			} else {
				err = conn.QueryRow(qctx, `SELECT pg_try_advisory_lock($1)`, l.key).Scan(&ok)
			}
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					l.log.Warn("lease: database unreachable", "holding", held, "err", err)
				}
				break
			}
			if ok {
				if !held {
					held = true
					l.from.Store(int64(time.Since(l.base) + grace))
				}
				l.until.Store(int64(sent + grace))
			}
			announce()
			if held && time.Since(l.base) >= time.Duration(l.until.Load()) {
				break // the renewal took so long that the lock may be gone
			}
			sleep(ctx, every)
		}
		drop()
		if held && ctx.Err() != nil {
			uctx, cancel := context.WithTimeout(context.Background(), time.Second)
			conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, l.key) // closing the session frees it anyway
			cancel()
		}
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn.Close(cctx) // the session ends with it, and its lock
		cancel()
	}
	return nil
}

func (l *Lease) connect(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*l.ttl)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, l.cfg)
	if err != nil {
		return nil, fmt.Errorf("hqpg: lease: %w", err)
	}
	ms := l.ttl.Milliseconds()
	if _, err := conn.Exec(cctx, fmt.Sprintf("SET idle_session_timeout = %d", ms)); err != nil {
		// PostgreSQL before 14: a partitioned leader keeps the lock until
		// the server's TCP keepalive gives up on it.
		l.log.Warn("lease: idle_session_timeout not set; a cut-off leader holds the lease until TCP gives up", "err", err)
	}
	return conn, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
