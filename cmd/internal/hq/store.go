package hq

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"venuebox/cmd/internal/config"
	"venuebox/store/hqpg"
	"venuebox/store/hqstore"
	"venuebox/sync/hqsync"
)

// Store is what HQ needs of its attendance store. The bbolt store
// (store/hqstore, one HQ) and the PostgreSQL store (store/hqpg, several
// replicas) are both one; store/hqstore/hqstoretest proves they behave
// alike.
type Store interface {
	hqsync.Store      // Ingest, UpdateBox
	hqsync.AuditStore // UpdateAudit
	Boxes() ([]hqstore.Box, error)
	Attendance(event string) ([]hqstore.CheckIn, error)
	Conflicts(event string) ([]hqstore.Conflict, error)
	AuditStates() (map[string]hqstore.AuditState, error)
	// Probe reports whether a check-in could be ingested now.
	Probe(ctx context.Context) error
	Close() error
}

var (
	_ Store = (*hqstore.Store)(nil)
	_ Store = (*hqpg.Store)(nil)
)

// openStore opens the store the configuration names: state_dir/hq.db, or
// the PostgreSQL database (migrated to this build's schema).
func openStore(cfg *config.HQ, log *slog.Logger) (Store, error) {
	switch cfg.Store.Driver {
	case config.StorePostgres:
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		s, err := hqpg.Open(ctx, cfg.Store.DSN, nil, log)
		if err != nil {
			return nil, fmt.Errorf("hq: store: %w", err)
		}
		log.Info("hq store: postgres", "db", s.String())
		return s, nil
	case config.StoreBbolt, "":
		return hqstore.Open(filepath.Join(cfg.StateDir, "hq.db"), log)
	default:
		return nil, fmt.Errorf("hq: store: unknown driver %q", cfg.Store.Driver)
	}
}
