package hqstore

import (
	"context"
	"errors"
	"fmt"
)

// ErrWedged means the store's write lock was not free in time: a
// transaction is stuck, so no check-in can be ingested.
var ErrWedged = errors.New("hqstore: wedged: the write lock is not free")

// Probe reports whether a check-in could be ingested now: it takes the
// write lock, reads the meta data and rolls back, writing nothing, all
// within ctx. When ctx ends first, the goroutine waiting for the lock
// stays until the lock is free (health.Probe keeps callers from piling up).
func (s *Store) Probe(ctx context.Context) error {
	done := make(chan error, 1)
	go func() {
		tx, err := s.db.Begin(true)
		if err != nil {
			done <- fmt.Errorf("hqstore: probe: %w", err)
			return
		}
		defer tx.Rollback() // nothing was written: the rollback only frees the lock
		if tx.Bucket(bMeta) == nil {
			done <- errors.New("hqstore: probe: meta bucket missing")
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
