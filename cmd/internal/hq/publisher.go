package hq

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"venuebox/store/hqpg"
	"venuebox/sync/hqsync"
)

// sharedManifests is what replicas share besides attendance: the newest
// signed snapshot of each event, which version of it was published, and
// the lease that elects the one replica that publishes. hqpg.Store is one.
type sharedManifests interface {
	PutManifest(ctx context.Context, event string, version uint64, raw []byte) (bool, error)
	ManifestVersions(ctx context.Context) ([]hqpg.ManifestVersion, error)
	Manifest(ctx context.Context, event string) (uint64, []byte, error)
	MarkPublished(ctx context.Context, event string, version uint64) error
	Lease(name string, ttl time.Duration) *hqpg.Lease
}

// publisher decides who pushes manifests to the venues. A single HQ (the
// bbolt store) always does. Replicas (the PostgreSQL store) share every
// snapshot they take (a POST, a revocation) through the database; each
// loads the others' into its library, so that whichever replica answers a
// box's manifest request answers the same; and only the replica holding
// the lease pushes to the venues, what it takes itself at once and what
// the others took within a poll, recording each version it published, so
// that a replica that takes over pushes what its predecessor had not.
// Boxes ignore a version they hold, so a push made twice around a
// takeover does no harm.
type publisher struct {
	h      *HQ
	shared sharedManifests // nil: a single HQ
	lease  *hqpg.Lease
	log    *slog.Logger
	every  time.Duration
	polls  atomic.Int64
}

// leaseTTL is the publisher lease's time to live: a dead leader is
// replaced within about 4/5 of it.
var leaseTTL = 5 * time.Second

func newPublisher(h *HQ, log *slog.Logger) *publisher {
	p := &publisher{h: h, log: log, every: time.Second}
	if s, ok := h.Store.(sharedManifests); ok {
		p.shared = s
		p.lease = s.Lease("manifest-publisher", leaseTTL)
	}
	return p
}

// share offers the library's snapshot of event to the other replicas and
// reports whether this replica publishes it (else the leader does).
func (p *publisher) share(ctx context.Context, event string) bool {
	if p.shared == nil {
		return true
	}
	if v, raw, ok := p.h.lib.snapshot(event); ok {
		if _, err := p.shared.PutManifest(ctx, event, v, raw); err != nil {
			p.log.Error("manifest not shared with the other replicas", "event", event, "version", v, "err", err)
		}
	}
	return p.lease.Leading()
}

// published records that mf went to every venue it was for.
func (p *publisher) published(ctx context.Context, mf hqsync.Manifest) {
	p.log.Info("manifest published", "event", mf.Event, "version", mf.Version, "delta", mf.Base != 0)
	if p.shared == nil {
		return
	}
	if err := p.shared.MarkPublished(ctx, mf.Event, mf.Version); err != nil {
		p.log.Warn("manifest publication not recorded; it may be pushed again", "event", mf.Event, "err", err)
	}
}

// run takes part in the lease and keeps the library in step with the
// shared snapshots until ctx ends; the leader publishes what is not yet.
func (p *publisher) run(ctx context.Context) {
	if p.shared == nil {
		return
	}
	done := make(chan struct{})
	go func() { defer close(done); p.lease.Run(ctx, nil) }()
	defer func() { <-done }()
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		p.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *publisher) poll(ctx context.Context) {
	defer p.polls.Add(1)
	vs, err := p.shared.ManifestVersions(ctx)
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("shared manifests unreadable", "err", err)
		}
		return
	}
	for _, v := range vs {
		if p.h.lib.version(v.Event) < v.Version {
			_, raw, err := p.shared.Manifest(ctx, v.Event)
			if err != nil {
				p.log.Warn("shared manifest unreadable", "event", v.Event, "err", err)
				continue
			}
			if _, _, err := p.h.lib.add(raw); err != nil {
				p.log.Warn("shared manifest refused", "event", v.Event, "version", v.Version, "err", err)
				continue
			}
			p.log.Info("manifest taken from another replica", "event", v.Event, "version", v.Version)
		}
		if v.Published >= v.Version || !p.lease.Leading() || p.h.sync == nil || !p.h.sync.Connected() {
			continue
		}
		mf, venue, ok := p.h.lib.latest(v.Event)
		if ok && mf.Version == v.Version {
			p.h.push(ctx, venue, mf)
		}
	}
}

// snapshot returns the newest snapshot the library holds of event.
func (l *library) snapshot(event string) (uint64, []byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.events[event]
	if !ok {
		return 0, nil, false
	}
	return e.snap.Version, e.raw, true
}

// version returns the version of event the library holds, 0 for none.
func (l *library) version(event string) uint64 {
	v, _, _ := l.snapshot(event)
	return v
}

// latest returns what to push for the newest version of event: the delta
// that reached it, when the library made one, else the snapshot; and the
// event's venue ("" for every venue).
func (l *library) latest(event string) (hqsync.Manifest, string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.events[event]
	if !ok {
		return hqsync.Manifest{}, "", false
	}
	for _, d := range e.deltas {
		if d.Version == e.snap.Version {
			return d, e.snap.Event.Venue, true
		}
	}
	return hqsync.Manifest{Event: event, Version: e.snap.Version, Raw: e.raw}, e.snap.Event.Venue, true
}
