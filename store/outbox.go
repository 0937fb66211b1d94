package store

import (
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Pending returns up to limit check-ins HQ has not acknowledged, oldest
// first.
func (s *Store) Pending(limit int) ([]CheckIn, error) { return s.PendingExcept(limit, nil) }

// PendingExcept is Pending leaving out, without decoding them, the
// check-ins whose nonce skip reports (sync skips those in flight).
func (s *Store) PendingExcept(limit int, skip func(nonce string) bool) ([]CheckIn, error) {
	var out []CheckIn
	err := s.db.View(func(tx *bolt.Tx) error {
		all := tx.Bucket(bCheckins)
		c := tx.Bucket(bOutbox).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			if skip != nil && skip(string(v)) {
				continue
			}
			ci, err := getJSON[CheckIn](all, k)
			if err != nil {
				return err
			}
			if ci == nil {
				return fmt.Errorf("store: outbox entry %x has no check-in", k)
			}
			out = append(out, *ci)
		}
		return nil
	})
	return out, err
}

// Ack removes check-ins HQ acknowledged from the outbox; unknown or
// already acknowledged nonces are ignored. The check-ins themselves stay.
func (s *Store) Ack(nonces ...string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta, out := tx.Bucket(bMeta), tx.Bucket(bOutbox)
		queued := getU64(meta, kQueued)
		for _, n := range nonces {
			key := nonceKey(n)
			if key == nil || string(out.Get(key)) != n {
				continue
			}
			if err := out.Delete(key); err != nil {
				return err
			}
			if queued > 0 {
				queued--
			}
		}
		return meta.Put(kQueued, u64(queued))
	})
}

// Queued counts the check-ins in the outbox.
func (s *Store) Queued() (int, error) {
	var n uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		n = getU64(tx.Bucket(bMeta), kQueued)
		return nil
	})
	return int(n), err
}

// CheckIns returns up to limit of the newest check-ins made at this box,
// newest first.
func (s *Store) CheckIns(limit int) ([]CheckIn, error) {
	var out []CheckIn
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bCheckins).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var ci CheckIn
			if err := json.Unmarshal(v, &ci); err != nil {
				return fmt.Errorf("store: check-in %x: %w", k, err)
			}
			out = append(out, ci)
		}
		return nil
	})
	return out, err
}

// AddPeer records a check-in made at another gate of the venue, once per
// nonce, so that a ticket admitted there is already used here, and one
// undone there by staff may enter here again. It reports whether the
// check-in was new.
func (s *Store) AddPeer(c CheckIn) (bool, error) {
	if c.Nonce == "" || c.Box == s.id.Box {
		return false, errors.New("store: add peer: no nonce, or the check-in is this box's own")
	}
	added := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		peers := tx.Bucket(bPeers)
		if peers.Get([]byte(c.Nonce)) != nil {
			return nil
		}
		added = true
		if err := putJSON(peers, []byte(c.Nonce), c); err != nil {
			return err
		}
		if c.Event == "" || c.Ticket == "" {
			return nil
		}
		if c.Reason == ReasonUndo {
			// Staff at that gate undid an admission: the ticket may enter
			// again here too.
			undone, _ := StaffNote(c)
			if ev := eventBucket(tx, c.Event); ev != nil && ev.Bucket(bUses) != nil && undone != "" {
				return dropUse(ev, c.Ticket, undone)
			}
			return nil
		}
		if c.Verdict != "admitted" {
			return nil
		}
		ev, err := tx.CreateBucketIfNotExists([]byte("ev/" + c.Event))
		if err != nil {
			return err
		}
		if _, err := ev.CreateBucketIfNotExists(bUses); err != nil {
			return err
		}
		gate := c.Gate
		if gate == "" {
			gate = c.Box
		}
		return addUse(ev, c.Ticket, Use{At: c.At, Gate: gate, Verdict: c.Verdict, Reason: c.Reason, Nonce: c.Nonce})
	})
	if err != nil {
		return false, fmt.Errorf("store: add peer: %w", err)
	}
	return added, nil
}

// Admissions returns a ticket's admissions at any gate of the venue,
// oldest first.
func (s *Store) Admissions(event, ticket string) ([]Use, error) {
	var out []Use
	err := s.db.View(func(tx *bolt.Tx) error {
		ev := eventBucket(tx, event)
		if ev == nil {
			return nil
		}
		uses, err := getJSON[[]Use](ev.Bucket(bUses), []byte(ticket))
		if uses != nil {
			out = *uses
		}
		return err
	})
	return out, err
}
