package hq

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"venuebox/cmd/internal/manifest"
	"venuebox/cmd/internal/ticket"
	"venuebox/sync/hqsync"
	"venuebox/sync/wire"
)

// library keeps the newest signed snapshot of each event, as uploaded, in
// dir/<event>.json (written temp + fsync + rename), and answers boxes'
// manifest requests from it.
type library struct {
	dir   string
	trust *ticket.Keyring

	mu     sync.Mutex
	events map[string]entry
}

type entry struct {
	venue   string
	version uint64
	raw     []byte
}

func openLibrary(dir string, trust *ticket.Keyring) (*library, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("hq: manifests: %w", err)
	}
	l := &library{dir: dir, trust: trust, events: map[string]entry{}}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("hq: manifests: %w", err)
		}
		if _, err := l.add(raw, false); err != nil {
			return nil, fmt.Errorf("hq: manifests: %s: %w", f, err)
		}
	}
	return l, nil
}

// add verifies a signed snapshot and keeps it when it is newer than the
// one held; save writes it to disk first.
func (l *library) add(raw []byte, save bool) (*manifest.Manifest, error) {
	m, err := manifest.Parse(raw, l.trust)
	if err != nil {
		return nil, err
	}
	if m.Kind != manifest.KindSnapshot {
		return nil, errors.New("only snapshots are taken")
	}
	if err := wire.ValidID(m.Event.ID); err != nil {
		return nil, fmt.Errorf("event id: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if had, ok := l.events[m.Event.ID]; ok && had.version >= m.Version {
		return nil, fmt.Errorf("version %d is not newer than the %d held", m.Version, had.version)
	}
	if save {
		if err := writeFileSync(filepath.Join(l.dir, m.Event.ID+".json"), raw); err != nil {
			return nil, err
		}
	}
	l.events[m.Event.ID] = entry{venue: m.Event.Venue, version: m.Version, raw: raw}
	return m, nil
}

// Manifests gives a box at venue the snapshots newer than it holds: those
// of the venue's events, and of events that name no venue.
func (l *library) Manifests(_, venue string, have map[string]uint64) ([]hqsync.Manifest, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []hqsync.Manifest
	for id, e := range l.events {
		if (e.venue == "" || e.venue == venue) && e.version > have[id] {
			out = append(out, hqsync.Manifest{Event: id, Version: e.version, Raw: e.raw})
		}
	}
	return out, nil
}

// writeFileSync writes data to path through a temporary file, fsync and
// rename, so a crash leaves the old file or the new one.
func writeFileSync(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+strings.TrimSuffix(filepath.Base(path), ".json")+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
