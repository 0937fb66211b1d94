package hqstore_test

import (
	"log/slog"
	"path/filepath"
	"testing"

	"venuebox/store/hqstore"
	"venuebox/store/hqstore/hqstoretest"
)

// TestSuite runs the shared HQ store suite against the bbolt store; the
// PostgreSQL store runs the same one (store/hqpg).
func TestSuite(t *testing.T) {
	hqstoretest.Run(t, hqstoretest.Harness{New: func(t *testing.T) func(*testing.T) hqstoretest.Store {
		path := filepath.Join(t.TempDir(), "hq.db")
		return func(t *testing.T) hqstoretest.Store {
			s, err := hqstore.Open(path, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}})
}
