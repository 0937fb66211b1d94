package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ApplyManifest applies a snapshot or a delta to its event's cache in one
// transaction: a reader sees the cache before or after, never between. A
// snapshot older than or equal to the applied version is ignored (it is a
// redelivery); a delta must start at the applied version. Revocations are
// never undone by a manifest: a ticket revoked by the fast path stays
// revoked.
func (s *Store) ApplyManifest(m Manifest) error {
	if m.Event.ID == "" || strings.ContainsRune(m.Event.ID, 0) {
		return errors.New("store: apply manifest: event id is empty or has a NUL byte")
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		had, err := getJSON[Event](tx.Bucket(bEvents), []byte(m.Event.ID))
		if err != nil {
			return err
		}
		var cur uint64
		if had != nil {
			cur = had.Version
		}
		switch {
		case m.Snapshot && m.Version <= cur:
			return nil
		case !m.Snapshot && m.Base != cur:
			return fmt.Errorf("%w: delta %d→%d on version %d", ErrVersion, m.Base, m.Version, cur)
		case !m.Snapshot && m.Version <= m.Base:
			return fmt.Errorf("%w: delta %d→%d goes backwards", ErrVersion, m.Base, m.Version)
		}
		ev, err := tx.CreateBucketIfNotExists([]byte("ev/" + m.Event.ID))
		if err != nil {
			return err
		}
		if m.Snapshot {
			for _, name := range [][]byte{bTickets, bCodes, bCards} {
				if ev.Bucket(name) != nil {
					if err := ev.DeleteBucket(name); err != nil {
						return err
					}
				}
			}
		}
		for _, name := range [][]byte{bTickets, bCodes, bCards, bRevoked, bUses, bCounts} {
			if _, err := ev.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		count := 0
		if had != nil && !m.Snapshot {
			count = had.Tickets
		}
		changed, err := applyTickets(ev, m)
		if err != nil {
			return err
		}
		count += changed
		for _, id := range m.Revoked {
			if err := ev.Bucket(bRevoked).Put([]byte(id), nil); err != nil {
				return err
			}
		}
		e := m.Event
		e.Version = m.Version
		e.Tickets = count
		if err := putJSON(tx.Bucket(bEvents), []byte(e.ID), e); err != nil {
			return err
		}
		kind := "delta"
		if m.Snapshot {
			kind = "snapshot"
		}
		return appendAudit(tx, Entry{
			At: time.Now(), Kind: "manifest", Actor: "system", Subject: e.ID,
			Detail: fmt.Sprintf("%s version %d: %d tickets, %d cards, %d revoked, %d removed; %d in cache",
				kind, m.Version, len(m.Tickets), len(m.Cards), len(m.Revoked), len(m.Removed), e.Tickets),
		})
	})
	if err != nil {
		return fmt.Errorf("store: apply manifest %s v%d: %w", m.Event.ID, m.Version, err)
	}
	return nil
}

// applyTickets writes m's removals, tickets and cards and returns by how
// many the tickets in the cache changed. A snapshot's buckets are fresh
// and filled in key order, packed full.
func applyTickets(ev *bolt.Bucket, m Manifest) (int, error) {
	tickets, codes, cards := ev.Bucket(bTickets), ev.Bucket(bCodes), ev.Bucket(bCards)
	if m.Snapshot {
		tickets.FillPercent, codes.FillPercent, cards.FillPercent = 1, 1, 1
	}
	changed := 0
	drop := func(id string) error {
		old, err := getJSON[Ticket](tickets, []byte(id))
		if err != nil || old == nil {
			return err
		}
		if err := codes.Delete([]byte(old.CodeHash)); err != nil {
			return err
		}
		changed--
		return tickets.Delete([]byte(id))
	}
	for _, id := range m.Removed {
		if err := drop(id); err != nil {
			return 0, err
		}
		if err := dropCards(cards, id); err != nil {
			return 0, err
		}
	}
	list := slices.Clone(m.Tickets)
	slices.SortFunc(list, func(a, b Ticket) int { return strings.Compare(a.ID, b.ID) })
	for _, t := range list {
		if !m.Snapshot {
			if err := drop(t.ID); err != nil {
				return 0, err
			}
		}
		if err := putJSON(tickets, []byte(t.ID), t); err != nil {
			return 0, err
		}
		changed++
	}
	slices.SortFunc(list, func(a, b Ticket) int { return strings.Compare(a.CodeHash, b.CodeHash) })
	for _, t := range list {
		if t.CodeHash == "" {
			continue
		}
		if err := codes.Put([]byte(t.CodeHash), []byte(t.ID)); err != nil {
			return 0, err
		}
	}
	cl := slices.Clone(m.Cards)
	slices.SortFunc(cl, func(a, b Card) int { return strings.Compare(a.UIDHash, b.UIDHash) })
	for _, c := range cl {
		if err := putJSON(cards, []byte(c.UIDHash), c); err != nil {
			return 0, err
		}
	}
	return changed, nil
}

// dropCards removes the cards of a removed ticket.
func dropCards(cards *bolt.Bucket, ticket string) error {
	var keys [][]byte
	err := cards.ForEach(func(k, v []byte) error {
		var c Card
		if err := json.Unmarshal(v, &c); err != nil {
			return err
		}
		if c.Ticket == ticket {
			keys = append(keys, slices.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := cards.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Revoke marks tickets of an event revoked (the fast path from HQ). An
// event the box does not know yet gets its revocation list all the same,
// so a manifest applied later cannot bring the tickets back.
func (s *Store) Revoke(event string, ids ...string) error {
	if event == "" || strings.ContainsRune(event, 0) {
		return errors.New("store: revoke: event id is empty or has a NUL byte")
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		ev, err := tx.CreateBucketIfNotExists([]byte("ev/" + event))
		if err != nil {
			return err
		}
		rev, err := ev.CreateBucketIfNotExists(bRevoked)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := rev.Put([]byte(id), nil); err != nil {
				return err
			}
		}
		return appendAudit(tx, Entry{At: time.Now(), Kind: "revoke", Actor: "hq", Subject: event,
			Detail: fmt.Sprintf("revoked %s", strings.Join(ids, ","))})
	})
	if err != nil {
		return fmt.Errorf("store: revoke: %w", err)
	}
	return nil
}

// Events returns the events the box serves, by id.
func (s *Store) Events() ([]Event, error) {
	var out []Event
	err := s.db.View(func(tx *bolt.Tx) error {
		return eachEvent(tx, func(e *Event, _ *bolt.Bucket) (bool, error) {
			out = append(out, *e)
			return false, nil
		})
	})
	return out, err
}

// ManifestVersions maps each event to the manifest version applied.
func (s *Store) ManifestVersions() (map[string]uint64, error) {
	evs, err := s.Events()
	if err != nil {
		return nil, err
	}
	m := make(map[string]uint64, len(evs))
	for _, e := range evs {
		m[e.ID] = e.Version
	}
	return m, nil
}

// Revoked reports whether a ticket of an event is revoked.
func (s *Store) Revoked(event, ticket string) (bool, error) {
	revoked := false
	err := s.db.View(func(tx *bolt.Tx) error {
		if ev := eventBucket(tx, event); ev != nil && ev.Bucket(bRevoked) != nil {
			revoked = ev.Bucket(bRevoked).Get([]byte(ticket)) != nil
		}
		return nil
	})
	return revoked, err
}
