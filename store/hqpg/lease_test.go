package hqpg_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"venuebox/store/hqpg"
	"venuebox/store/hqpg/pgtest"
)

func openStore(t *testing.T, dsn string) *hqpg.Store {
	t.Helper()
	s, err := hqpg.Open(context.Background(), dsn, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestLease_oneLeaderAndTakeover runs three replicas' leases on one
// database and samples them every 2 ms throughout: never two leaders at
// once. One leads; when its session is cut from the server side
// (pg_terminate_backend, as a server restart or a broken link would), and
// then when the next leader stops, another takes over within a TTL.
func TestLease_oneLeaderAndTakeover(t *testing.T) {
	const ttl = time.Second
	srv := pgtest.Start(t, nil)
	dsn := srv.NewDatabase(t)
	type replica struct {
		lease  *hqpg.Lease
		cancel context.CancelFunc
		done   chan struct{}
	}
	var rs []*replica
	for range 3 {
		l := openStore(t, dsn).Lease("manifests", ttl)
		ctx, cancel := context.WithCancel(context.Background())
		r := &replica{lease: l, cancel: cancel, done: make(chan struct{})}
		go func() { defer close(r.done); l.Run(ctx, nil) }()
		rs = append(rs, r)
	}
	t.Cleanup(func() {
		for _, r := range rs {
			r.cancel()
			<-r.done
		}
	})
	var two atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			n := 0
			for _, r := range rs {
				if r.lease.Leading() {
					n++
				}
			}
			if n > 1 {
				two.Add(1)
			}
		}
	})
	leader := func(within time.Duration, not *replica) *replica {
		t.Helper()
		for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			for _, r := range rs {
				if r != not && r.lease.Leading() {
					return r
				}
			}
		}
		t.Fatalf("no leader within %v", within)
		return nil
	}
	first := leader(5*ttl, nil)

	// Cut the holder's session from the server side.
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	cut := time.Now()
	var n int
	if err := conn.QueryRow(context.Background(),
		`SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND granted`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminate the holder: %d sessions, %v", n, err)
	}
	for deadline := time.Now().Add(ttl); first.lease.Leading(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the holder whose session was cut still leads after a TTL")
		}
	}
	t.Logf("the holder whose session was cut stopped leading after %v", time.Since(cut).Round(time.Millisecond))
	second := leader(2*ttl, nil)
	t.Logf("a leader again %v after the cut", time.Since(cut).Round(time.Millisecond))

	// The leader stops: another takes over.
	stopped := time.Now()
	second.cancel()
	<-second.done
	third := leader(2*ttl, second)
	t.Logf("after the leader stopped, another led in %v", time.Since(stopped).Round(time.Millisecond))
	if third.lease.Leading() && second.lease.Leading() {
		t.Fatal("a stopped lease still leads")
	}
	time.Sleep(ttl) // more samples with the new leader in place
	close(stop)
	wg.Wait()
	if c := two.Load(); c > 0 {
		t.Fatalf("two leaders at once in %d samples", c)
	}
}

// TestOpen_migrations: a new database gets every migration, recorded with
// its version; a database left at version 1 is brought up to date with
// its data kept; replicas opening together apply each step once; a
// database from a newer build is refused.
func TestOpen_migrations(t *testing.T) {
	srv := pgtest.Start(t, nil)
	ctx := context.Background()
	s := openStore(t, srv.NewDatabase(t))
	if v, err := s.SchemaVersion(ctx); err != nil || v != hqpg.Schema || v < 2 {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, hqpg.Schema)
	}

	// A database at version 1, with a check-in in it.
	dsn := srv.NewDatabase(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := hqpg.MigrateTo(ctx, conn, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO checkins VALUES ('n1', 'gate-1', 1, 1, 'o', 'v', 'g', 'ev', 'T1', 'admitted', 'ok', now(), NULL, '', '', '', false, now())`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s, err := hqpg.Open(ctx, dsn, nil, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Error(err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	var versions []int
	rows, err := conn.Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	if versions, err = pgx.CollectRows(rows, pgx.RowTo[int]); err != nil {
		t.Fatal(err)
	}
	if len(versions) != hqpg.Schema || versions[0] != 1 || versions[len(versions)-1] != hqpg.Schema {
		t.Fatalf("schema_migrations = %v", versions)
	}
	s = openStore(t, dsn)
	if c, ok, err := s.Get("n1"); err != nil || !ok || c.Ticket != "T1" {
		t.Fatalf("check-in from version 1: %+v %v %v", c, ok, err)
	}
	if _, err := s.PutManifest(ctx, "ev", 1, []byte("m")); err != nil {
		t.Fatalf("version 2's table: %v", err)
	}

	if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version, about) VALUES (99, 'from the future')`); err != nil {
		t.Fatal(err)
	}
	if _, err := hqpg.Open(ctx, dsn, nil, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("opened a database with a newer schema")
	}
}

// TestManifests: a snapshot is shared only when newer; publication is
// recorded per version.
func TestManifests(t *testing.T) {
	srv := pgtest.Start(t, nil)
	ctx := context.Background()
	s := openStore(t, srv.NewDatabase(t))
	for _, c := range []struct {
		v    uint64
		raw  string
		kept bool
	}{{2, "two", true}, {1, "one", false}, {2, "two again", false}, {3, "three", true}} {
		if kept, err := s.PutManifest(ctx, "ev", c.v, []byte(c.raw)); err != nil || kept != c.kept {
			t.Fatalf("PutManifest(%d) = %v, %v; want %v", c.v, kept, err, c.kept)
		}
	}
	if v, raw, err := s.Manifest(ctx, "ev"); err != nil || v != 3 || string(raw) != "three" {
		t.Fatalf("Manifest = %d %q %v", v, raw, err)
	}
	if _, _, err := s.Manifest(ctx, "none"); err == nil {
		t.Fatal("Manifest of an unknown event")
	}
	if err := s.MarkPublished(ctx, "ev", 3); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkPublished(ctx, "ev", 2); err != nil { // late, older: no step back
		t.Fatal(err)
	}
	vs, err := s.ManifestVersions(ctx)
	if err != nil || len(vs) != 1 || vs[0] != (hqpg.ManifestVersion{Event: "ev", Version: 3, Published: 3}) {
		t.Fatalf("ManifestVersions = %+v, %v", vs, err)
	}
}
