package hqstore

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestProbe_wedgedStore(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "hq.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	probe := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		return s.Probe(ctx)
	}
	if err := probe(); err != nil {
		t.Fatalf("healthy: %v", err)
	}
	entered, release, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		s.db.Update(func(*bolt.Tx) error { close(entered); <-release; return nil })
	}()
	<-entered
	if err := probe(); !errors.Is(err, ErrWedged) {
		t.Errorf("wedged: %v, want ErrWedged", err)
	}
	close(release)
	<-done
	if err := probe(); err != nil {
		t.Errorf("free again: %v", err)
	}
}
