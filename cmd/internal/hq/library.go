package hq

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"venuebox/cmd/internal/manifest"
	"venuebox/cmd/internal/ticket"
	"venuebox/sync/hqsync"
	"venuebox/sync/wire"
)

// library keeps the newest signed snapshot of each event in
// dir/<event>.json (written temp + fsync + rename) and, since HQ started,
// the signed delta from each earlier version to the next. It answers a
// box's manifest request with the chain of deltas from the version the box
// holds, or the snapshot when the chain is broken.
type library struct {
	dir   string
	priv  ed25519.PrivateKey
	trust *ticket.Keyring

	mu     sync.Mutex
	events map[string]*event
}

type event struct {
	snap   *manifest.Manifest
	raw    []byte
	deltas map[uint64]hqsync.Manifest // by base
}

func openLibrary(dir string, priv ed25519.PrivateKey) (*library, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("hq: manifests: %w", err)
	}
	l := &library{dir: dir, priv: priv, trust: ticket.NewKeyring(priv.Public().(ed25519.PublicKey)), events: map[string]*event{}}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("hq: manifests: %w", err)
		}
		m, err := manifest.Parse(raw, l.trust)
		if err != nil {
			return nil, fmt.Errorf("hq: manifests: %s: %w", f, err)
		}
		l.events[m.Event.ID] = &event{snap: m, raw: raw, deltas: map[uint64]hqsync.Manifest{}}
	}
	return l, nil
}

// add verifies a signed snapshot and keeps it when it is newer than the
// one held, with the delta from that one.
func (l *library) add(raw []byte) (*manifest.Manifest, *hqsync.Manifest, error) {
	m, err := manifest.Parse(raw, l.trust)
	if err != nil {
		return nil, nil, err
	}
	if m.Kind != manifest.KindSnapshot {
		return nil, nil, errors.New("only snapshots are taken")
	}
	if err := wire.ValidID(m.Event.ID); err != nil {
		return nil, nil, fmt.Errorf("event id: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	d, err := l.keep(m, raw)
	return m, d, err
}

// revoke makes the next version of an event's snapshot with ids revoked
// and returns its delta, so that boxes offline now learn of it when they
// come back. It returns nil for an event the library does not hold.
func (l *library) revoke(eventID string, ids ...string) (*hqsync.Manifest, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.events[eventID]
	if !ok {
		return nil, nil
	}
	next := manifest.Revoke(e.snap, ids...)
	next.IssuedAt = time.Now().UTC()
	raw, err := manifest.Sign(l.priv, next)
	if err != nil {
		return nil, err
	}
	return l.keep(next, raw)
}

// keep stores snapshot m, newer than the one held, and the signed delta
// from the one held when a delta can say it. The caller holds mu.
func (l *library) keep(m *manifest.Manifest, raw []byte) (*hqsync.Manifest, error) {
	e := l.events[m.Event.ID]
	if e != nil && e.snap.Version >= m.Version {
		return nil, fmt.Errorf("version %d is not newer than the %d held", m.Version, e.snap.Version)
	}
	if err := writeFileSync(filepath.Join(l.dir, m.Event.ID+".json"), raw); err != nil {
		return nil, err
	}
	if e == nil {
		l.events[m.Event.ID] = &event{snap: m, raw: raw, deltas: map[uint64]hqsync.Manifest{}}
		return nil, nil
	}
	var delta *hqsync.Manifest
	if d, ok := manifest.Diff(e.snap, m); ok {
		draw, err := manifest.Sign(l.priv, d)
		if err != nil {
			return nil, err
		}
		delta = &hqsync.Manifest{Event: m.Event.ID, Version: d.Version, Base: d.Base, Raw: draw}
		e.deltas[d.Base] = *delta
	}
	e.snap, e.raw = m, raw
	return delta, nil
}

// Manifests gives a box at venue what it lacks of the venue's events (and
// of events that name no venue): the deltas from the version it holds, in
// order, or the snapshot.
func (l *library) Manifests(_, venue string, have map[string]uint64) ([]hqsync.Manifest, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []hqsync.Manifest
	for id, e := range l.events {
		if (e.snap.Event.Venue != "" && e.snap.Event.Venue != venue) || have[id] >= e.snap.Version {
			continue
		}
		var chain []hqsync.Manifest
		for v := have[id]; v < e.snap.Version; {
			d, ok := e.deltas[v]
			if !ok || v == 0 {
				chain = []hqsync.Manifest{{Event: id, Version: e.snap.Version, Raw: e.raw}}
				break
			}
			chain = append(chain, d)
			v = d.Version
		}
		out = append(out, chain...)
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
