// Package boxsynctest provides a small durable outbox that implements
// boxsync.Store, for tests and benchmarks of sync that must run without the
// box application, including tests that kill a box with SIGKILL. It is a
// fake: it keeps the outbox, peer check-ins, revocations and manifest
// versions on bbolt, and nothing of the gate's decision.
package boxsynctest

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"venuebox/sync/wire"
)

var (
	bOutbox  = []byte("outbox")
	bNonces  = []byte("nonces")
	bPeers   = []byte("peers")
	bRevoked = []byte("revoked")
	bVers    = []byte("versions")
	bMeta    = []byte("meta")
)

// Store is a bbolt outbox. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	box  string
	boot uint64

	mu      sync.Mutex
	seq     uint64
	applied [][]byte
}

// Open opens (or creates) the outbox of box at path and starts a new boot.
func Open(path, box string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("boxsynctest: open: %w", err)
	}
	s := &Store{db: db, box: box}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bOutbox, bNonces, bPeers, bRevoked, bVers, bMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		m := tx.Bucket(bMeta)
		if v := m.Get([]byte("boot")); v != nil {
			s.boot = binary.BigEndian.Uint64(v)
		}
		s.boot++
		return m.Put([]byte("boot"), be(s.boot))
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boxsynctest: open: %w", err)
	}
	return s, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Boot returns this boot's number.
func (s *Store) Boot() uint64 { return s.boot }

func be(v uint64) []byte { var b [8]byte; binary.BigEndian.PutUint64(b[:], v); return b[:] }

// Record appends a decision to the outbox (one fsync'd transaction) and
// returns it with its nonce, boot and sequence number filled in.
func (s *Store) Record(event, ticket, verdict, reason string, at time.Time) (wire.CheckIn, error) {
	s.mu.Lock()
	s.seq++
	c := wire.CheckIn{Box: s.box, Gate: s.box, Boot: s.boot, Seq: s.seq, Event: event, Ticket: ticket,
		Verdict: verdict, Reason: reason, At: at, Nonce: fmt.Sprintf("%s.%d.%d", s.box, s.boot, s.seq)}
	s.mu.Unlock()
	return c, s.put(c)
}

func (s *Store) put(cs ...wire.CheckIn) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, c := range cs {
			v, err := json.Marshal(c)
			if err != nil {
				return err
			}
			k := append(be(c.Boot), be(c.Seq)...)
			if err := tx.Bucket(bOutbox).Put(k, v); err != nil {
				return err
			}
			if err := tx.Bucket(bNonces).Put([]byte(c.Nonce), k); err != nil {
				return err
			}
		}
		return nil
	})
}

// RecordMany appends n decisions in one transaction, for benchmarks.
func (s *Store) RecordMany(n int, event string, at time.Time) error {
	cs := make([]wire.CheckIn, n)
	s.mu.Lock()
	for i := range cs {
		s.seq++
		cs[i] = wire.CheckIn{Box: s.box, Gate: s.box, Boot: s.boot, Seq: s.seq, Event: event,
			Ticket: fmt.Sprintf("T%d-%d", s.boot, s.seq), Verdict: "admitted", Reason: "ok", At: at,
			Nonce: fmt.Sprintf("%s.%d.%d", s.box, s.boot, s.seq)}
	}
	s.mu.Unlock()
	return s.put(cs...)
}

// Pending returns up to limit unacknowledged check-ins, oldest first.
func (s *Store) Pending(limit int) ([]wire.CheckIn, error) {
	var out []wire.CheckIn
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bOutbox).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			var ci wire.CheckIn
			if err := json.Unmarshal(v, &ci); err != nil {
				return err
			}
			out = append(out, ci)
		}
		return nil
	})
	return out, err
}

// Ack removes check-ins from the outbox; unknown nonces are ignored.
func (s *Store) Ack(nonces ...string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		nb, ob := tx.Bucket(bNonces), tx.Bucket(bOutbox)
		for _, n := range nonces {
			k := nb.Get([]byte(n))
			if k == nil {
				continue
			}
			if err := ob.Delete(k); err != nil {
				return err
			}
			if err := nb.Delete([]byte(n)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Queued counts the outbox.
func (s *Store) Queued() (int, error) {
	var n int
	err := s.db.View(func(tx *bolt.Tx) error { n = tx.Bucket(bOutbox).Stats().KeyN; return nil })
	return n, err
}

// AddPeer records another gate's check-in once.
func (s *Store) AddPeer(c wire.CheckIn) (bool, error) {
	var added bool
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bPeers)
		k := []byte(c.Event + "\x00" + c.Ticket + "\x00" + c.Nonce)
		if b.Get(k) != nil {
			return nil
		}
		added = true
		return b.Put(k, []byte(c.Box))
	})
	return added, err
}

// UsedElsewhere reports whether another gate admitted the ticket.
func (s *Store) UsedElsewhere(event, ticket string) (bool, error) {
	var used bool
	err := s.db.View(func(tx *bolt.Tx) error {
		p := []byte(event + "\x00" + ticket + "\x00")
		k, _ := tx.Bucket(bPeers).Cursor().Seek(p)
		used = k != nil && len(k) > len(p) && string(k[:len(p)]) == string(p)
		return nil
	})
	return used, err
}

// Revoke marks tickets revoked.
func (s *Store) Revoke(event string, ids ...string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, id := range ids {
			if err := tx.Bucket(bRevoked).Put([]byte(event+"\x00"+id), []byte{1}); err != nil {
				return err
			}
		}
		return nil
	})
}

// Revoked reports whether a ticket is revoked.
func (s *Store) Revoked(event, id string) (bool, error) {
	var r bool
	err := s.db.View(func(tx *bolt.Tx) error {
		r = tx.Bucket(bRevoked).Get([]byte(event+"\x00"+id)) != nil
		return nil
	})
	return r, err
}

// SetVersion records an applied manifest version.
func (s *Store) SetVersion(event string, v uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bVers).Put([]byte(event), be(v)) })
}

// ManifestVersions maps events to applied versions.
func (s *Store) ManifestVersions() (map[string]uint64, error) {
	out := map[string]uint64{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bVers).ForEach(func(k, v []byte) error {
			out[string(k)] = binary.BigEndian.Uint64(v)
			return nil
		})
	})
	return out, err
}
