package box

import (
	"maps"
	"sync"
	"time"
)

// What the kiosk's status bar shows beyond the contract's status: when HQ
// last acknowledged check-ins and when the ticket list was last updated.

// manifestScan bounds how far back the audit log is read for the time of
// the newest manifest.
const manifestScan = 200_000

// manifestClock remembers when each event's manifest was applied, read
// from the audit log again only when a version changes.
type manifestClock struct {
	mu       sync.Mutex
	versions map[string]uint64
	at       map[string]time.Time
}

// manifestTimes returns when each event's newest manifest was applied.
func (b *Box) manifestTimes(versions map[string]uint64) map[string]time.Time {
	c := &b.manifests
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at == nil || !maps.Equal(c.versions, versions) {
		at, err := b.opts.Store.ManifestTimes(manifestScan)
		if err != nil {
			b.log.Warn("manifest times", "err", err)
			return nil
		}
		c.versions, c.at = maps.Clone(versions), at
	}
	return c.at
}

// kioskStatus adds the status bar's extras to s.
func (b *Box) kioskStatus(s *Status) {
	s.Staff = b.StaffEnabled()
	if b.opts.LastSync != nil {
		if t := b.opts.LastSync(); !t.IsZero() {
			t = t.UTC()
			s.LastSync = &t
		}
	}
	// The oldest of the current events' lists is the one to worry about.
	for id, t := range b.manifestTimes(s.Manifests) {
		if _, ok := s.Manifests[id]; ok && (s.ManifestAt == nil || t.Before(*s.ManifestAt)) {
			t := t.UTC()
			s.ManifestAt = &t
		}
	}
}
