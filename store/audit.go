package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Entry is one audit log entry: a decision (rejections too), a staff
// action, a manifest applied, a revocation, a configuration change or a
// boot. Each carries the hash of the one before, so removing or altering an
// entry breaks the chain from there on.
type Entry struct {
	Seq     uint64    `json:"seq"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`              // decision, staff, manifest, revoke, config, boot
	Actor   string    `json:"actor,omitempty"`   // gate id, staff id or "system"
	Subject string    `json:"subject,omitempty"` // check-in nonce, ticket, event
	Verdict string    `json:"verdict,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Input   string    `json:"input,omitempty"` // hash of the raw input
	Detail  string    `json:"detail,omitempty"`
	Prev    string    `json:"prev"` // hash of the entry before, hex; "" for the first
	Hash    string    `json:"hash"` // SHA-256 over Prev and the entry without Hash
}

// ErrChain means the audit chain does not verify.
var ErrChain = errors.New("store: audit chain broken")

// HashEntry returns the hash an entry must carry: SHA-256 over its JSON
// with Hash empty. Prev is part of that JSON, which links the chain.
func HashEntry(e Entry) string {
	e.Hash = ""
	b, _ := json.Marshal(e) // an Entry always marshals
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// appendAudit numbers e, links it to the chain's head and stores it.
func appendAudit(tx *bolt.Tx, e Entry) error {
	meta := tx.Bucket(bMeta)
	var head struct {
		Seq  uint64 `json:"seq"`
		Hash string `json:"hash"`
	}
	if v := meta.Get(kAudit); v != nil {
		if err := json.Unmarshal(v, &head); err != nil {
			return fmt.Errorf("store: audit head: %w", err)
		}
	}
	e.Seq, e.Prev = head.Seq+1, head.Hash
	e.At = e.At.UTC()
	e.Hash = HashEntry(e)
	if err := putJSON(tx.Bucket(bAudit), u64(e.Seq), e); err != nil {
		return err
	}
	head.Seq, head.Hash = e.Seq, e.Hash
	return putJSON(meta, kAudit, head)
}

// Audit appends an entry for an action that is not a decision: a staff
// action, a configuration change.
func (s *Store) Audit(e Entry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	return s.db.Update(func(tx *bolt.Tx) error { return appendAudit(tx, e) })
}

// AuditLog returns up to limit entries after seq, oldest first.
func (s *Store) AuditLog(after uint64, limit int) ([]Entry, error) {
	var out []Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bAudit).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("store: audit entry %x: %w", k, err)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// VerifyAudit walks the whole chain and returns how many entries it holds,
// or an error wrapping ErrChain that names the first entry that does not
// verify.
func (s *Store) VerifyAudit() (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		prev, want := "", uint64(1)
		c := tx.Bucket(bAudit).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("%w: entry %x does not decode: %v", ErrChain, k, err)
			}
			switch {
			case binary.BigEndian.Uint64(k) != want || e.Seq != want:
				return fmt.Errorf("%w: entry %d missing (found %d)", ErrChain, want, e.Seq)
			case e.Prev != prev:
				return fmt.Errorf("%w: entry %d does not follow entry %d", ErrChain, e.Seq, e.Seq-1)
			case HashEntry(e) != e.Hash:
				return fmt.Errorf("%w: entry %d was altered", ErrChain, e.Seq)
			}
			prev, want = e.Hash, want+1
			n++
		}
		var head struct {
			Seq  uint64 `json:"seq"`
			Hash string `json:"hash"`
		}
		if v := tx.Bucket(bMeta).Get(kAudit); v != nil {
			if err := json.Unmarshal(v, &head); err != nil {
				return fmt.Errorf("%w: head: %v", ErrChain, err)
			}
		}
		if head.Seq != want-1 || head.Hash != prev {
			return fmt.Errorf("%w: the chain ends at %d but its head says %d", ErrChain, want-1, head.Seq)
		}
		return nil
	})
	return n, err
}

// NoteConfig records the configuration's digest and, when it differs from
// the one recorded before, appends a config entry to the audit log. It
// reports whether the configuration changed.
func (s *Store) NoteConfig(digest string) (bool, error) {
	changed := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		had := string(meta.Get(kConfig))
		if had == digest {
			return nil
		}
		changed = true
		if err := meta.Put(kConfig, []byte(digest)); err != nil {
			return err
		}
		detail := "configuration " + digest
		if had != "" {
			detail += " replaces " + had
		}
		return appendAudit(tx, Entry{At: time.Now(), Kind: "config", Actor: "system", Detail: detail})
	})
	return changed, err
}
