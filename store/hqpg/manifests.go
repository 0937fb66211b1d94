package hqpg

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// A ManifestVersion says which snapshot of an event the replicas share and
// which version the publishing replica last pushed to the venues.
type ManifestVersion struct {
	Event              string
	Version, Published uint64
}

// PutManifest keeps raw, the signed snapshot of event at version, when it
// is newer than the one shared; it reports whether it was kept. The caller
// has verified raw.
func (s *Store) PutManifest(ctx context.Context, event string, version uint64, raw []byte) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
INSERT INTO manifests AS m (event, version, raw) VALUES ($1, $2, $3)
ON CONFLICT (event) DO UPDATE SET version = EXCLUDED.version, raw = EXCLUDED.raw, updated_at = now()
WHERE m.version < EXCLUDED.version`, event, int64(version), raw)
	if err != nil {
		return false, fmt.Errorf("hqpg: put manifest %s: %w", event, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ManifestVersions lists every shared event's version, without the bytes.
func (s *Store) ManifestVersions(ctx context.Context) ([]ManifestVersion, error) {
	rows, err := s.pool.Query(ctx, `SELECT event, version, published FROM manifests ORDER BY event`)
	if err != nil {
		return nil, fmt.Errorf("hqpg: manifest versions: %w", err)
	}
	var out []ManifestVersion
	var m ManifestVersion
	var v, p int64
	_, err = pgx.ForEachRow(rows, []any{&m.Event, &v, &p}, func() error {
		m.Version, m.Published = uint64(v), uint64(p)
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hqpg: manifest versions: %w", err)
	}
	return out, nil
}

// Manifest returns the shared snapshot of event and its version.
func (s *Store) Manifest(ctx context.Context, event string) (uint64, []byte, error) {
	var v int64
	var raw []byte
	err := s.pool.QueryRow(ctx, `SELECT version, raw FROM manifests WHERE event = $1`, event).Scan(&v, &raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, fmt.Errorf("hqpg: manifest %s: none shared", event)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("hqpg: manifest %s: %w", event, err)
	}
	return uint64(v), raw, nil
}

// MarkPublished records that version of event was pushed to its venues.
func (s *Store) MarkPublished(ctx context.Context, event string, version uint64) error {
	_, err := s.pool.Exec(ctx, `UPDATE manifests SET published = greatest(published, $2) WHERE event = $1`, event, int64(version))
	if err != nil {
		return fmt.Errorf("hqpg: mark published %s: %w", event, err)
	}
	return nil
}
