package manifest

import (
	"bytes"
	"encoding/json"
	"slices"
)

// Diff returns the delta that turns snapshot old into snapshot next: the
// tickets and cards added or changed, the ticket ids removed and the new
// revocations, with next's event and card key. It reports false when a
// delta cannot say it: next is not newer, the card key changed, a
// revocation was withdrawn, or a card went while its ticket stayed. Then
// the box needs the whole snapshot.
func Diff(old, next *Manifest) (*Manifest, bool) {
	if old.Kind != KindSnapshot || next.Kind != KindSnapshot || next.Event.ID != old.Event.ID ||
		next.Version <= old.Version || !bytes.Equal(old.CardKey, next.CardKey) {
		return nil, false
	}
	d := &Manifest{Format: Format, Event: next.Event, Kind: KindDelta, Version: next.Version, Base: old.Version,
		IssuedAt: next.IssuedAt, CardKey: next.CardKey}
	had := make(map[string][]byte, len(old.Tickets))
	for _, t := range old.Tickets {
		had[t.ID] = mustJSON(t)
	}
	kept := make(map[string]bool, len(next.Tickets))
	for _, t := range next.Tickets {
		kept[t.ID] = true
		if b, ok := had[t.ID]; !ok || !bytes.Equal(b, mustJSON(t)) {
			d.Tickets = append(d.Tickets, t)
		}
	}
	for _, t := range old.Tickets {
		if !kept[t.ID] {
			d.Removed = append(d.Removed, t.ID)
		}
	}
	oldCards := make(map[string][]byte, len(old.Cards))
	for _, c := range old.Cards {
		oldCards[c.UIDHash] = mustJSON(c)
	}
	nextCards := make(map[string]bool, len(next.Cards))
	for _, c := range next.Cards {
		nextCards[c.UIDHash] = true
		if b, ok := oldCards[c.UIDHash]; !ok || !bytes.Equal(b, mustJSON(c)) {
			d.Cards = append(d.Cards, c)
		}
	}
	for _, c := range old.Cards {
		if !nextCards[c.UIDHash] && kept[c.Ticket] {
			return nil, false
		}
	}
	for _, id := range old.Revoked {
		if !slices.Contains(next.Revoked, id) {
			return nil, false
		}
	}
	for _, id := range next.Revoked {
		if !slices.Contains(old.Revoked, id) {
			d.Revoked = append(d.Revoked, id)
		}
	}
	return d, true
}

// Revoke returns the snapshot after m with ids revoked as well, one version
// on.
func Revoke(m *Manifest, ids ...string) *Manifest {
	next := *m
	next.Version = m.Version + 1
	next.Revoked = slices.Clone(m.Revoked)
	for _, id := range ids {
		if !slices.Contains(next.Revoked, id) {
			next.Revoked = append(next.Revoked, id)
		}
	}
	return &next
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v) // tickets and cards are plain fields
	return b
}
