package store

import (
	"context"
	"errors"
	"fmt"
)

// ErrWedged means the store's write lock was not free in time: a
// transaction is stuck (a dying SD card's fsync, or a decision that never
// returned), so no decision can be recorded.
var ErrWedged = errors.New("store: wedged: the write lock is not free")

// Probe reports whether a decision could be recorded now: it takes the
// write lock every decision needs, reads the meta data and rolls back,
// without writing anything, all within ctx. A stuck writer makes it return
// ErrWedged when ctx ends.
//
// When ctx ends first, the goroutine that waits for the lock stays until
// the lock is free, so a caller probing on a timer should not start a new
// probe while one still waits (health.Probe takes care of that).
func (s *Store) Probe(ctx context.Context) error {
	done := make(chan error, 1)
	go func() {
		tx, err := s.db.Begin(true)
		if err != nil {
			done <- fmt.Errorf("store: probe: %w", err)
			return
		}
		defer tx.Rollback() // nothing was written: the rollback only frees the lock
		if tx.Bucket(bMeta) == nil || tx.Bucket(bMeta).Get(kBoot) == nil {
			done <- errors.New("store: probe: meta data missing")
			return
		}
		done <- nil
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrWedged, context.Cause(ctx))
	}
}
