package hqpg_test

import (
	"context"
	"log/slog"
	"testing"

	"venuebox/store/hqpg"
	"venuebox/store/hqpg/pgtest"
	"venuebox/store/hqstore/hqstoretest"
)

// TestSuite runs the shared HQ store suite against a real PostgreSQL
// server started for the test, one fresh database per case; Shared lets
// the suite open several stores on one database, as replicas do.
func TestSuite(t *testing.T) {
	srv := pgtest.Start(t, nil)
	hqstoretest.Run(t, hqstoretest.Harness{Shared: true, New: func(t *testing.T) func(*testing.T) hqstoretest.Store {
		dsn := srv.NewDatabase(t)
		return func(t *testing.T) hqstoretest.Store {
			s, err := hqpg.Open(context.Background(), dsn, nil, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}})
}
