package hqstore

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"venuebox/store"
)

// Each box's audit chain as HQ received and verified it (buckets created
// on first use, so a schema 1 file without them opens unchanged):
// "audit-state" box → JSON AuditState; "audit-entries" box 0x00 epoch(4)
// seq(8) → JSON AuditEntry.
var (
	bAuditState   = []byte("audit-state")
	bAuditEntries = []byte("audit-entries")
)

// Reasons an audit chain breaks, as AuditBreak.Reason says them.
const (
	// BreakAltered: an entry's contents do not match its hash, or the
	// box's chain recomputed from its file no longer reaches the hash HQ
	// verified (an entry altered or removed after HQ received it).
	BreakAltered = "altered"
	// BreakMissing: entries between the last HQ holds and the next the
	// box sent are absent from the box's chain.
	BreakMissing = "missing"
	// BreakRelinked: an entry does not follow the one before it as HQ
	// received that one (the chain was rewritten from there).
	BreakRelinked = "relinked"
	// BreakTruncated: the box holds fewer entries than HQ received.
	BreakTruncated = "truncated"
)

// maxBreaks and maxMarks cap what an AuditState keeps.
const (
	maxBreaks = 32
	maxMarks  = 16
)

// An AuditBreak is one place where a box's chain does not verify.
type AuditBreak struct {
	Seq    uint64    `json:"seq"`
	Reason string    `json:"reason"`
	Detail string    `json:"detail"`
	Found  time.Time `json:"found"`
}

// An AuditMark is a position HQ gave a box: the entry it held last and
// the chain's digest there.
type AuditMark struct {
	Seq    uint64 `json:"seq"`
	Digest string `json:"digest"`
}

// AuditState is HQ's view of one box's audit chain.
type AuditState struct {
	Box string `json:"box"`
	// Epoch grows each time HQ takes up the chain again below entries it
	// held (after a truncation), so that the entries it held stay.
	Epoch uint32 `json:"epoch"`
	// Seq and Head are the last entry HQ holds and its hash: the box sends
	// what follows. Digest is the chain's hash at Seq recomputed over the
	// entries HQ received (each hashed with the digest before it as its
	// Prev), which a box's attestation over its file must reach.
	Seq    uint64 `json:"seq"`
	Head   string `json:"head"`
	Digest string `json:"digest"`
	// Entries counts the entries HQ holds, over all epochs.
	Entries int `json:"entries"`
	// Reanchor means the next entry starts a new segment after a break:
	// its link to the entry before is not checked again.
	Reanchor bool `json:"reanchor,omitempty"`
	// Marks are the latest positions HQ gave the box, to check a late
	// attestation against.
	Marks []AuditMark `json:"marks,omitempty"`
	// Broken stays set from the first break until an operator clears it.
	Broken     bool         `json:"broken"`
	Breaks     []AuditBreak `json:"breaks,omitempty"` // the latest maxBreaks, oldest first
	BreakCount int          `json:"break_count"`
	// CheckedAt is when entries were last verified; AttestedAt when the
	// box's chain, recomputed from its file, last matched HQ's up to
	// AttestedSeq.
	CheckedAt   time.Time `json:"checked_at,omitzero"`
	AttestedAt  time.Time `json:"attested_at,omitzero"`
	AttestedSeq uint64    `json:"attested_seq,omitempty"`
	// ClearedBy and ClearedAt say who last cleared Broken, and when.
	ClearedBy string    `json:"cleared_by,omitempty"`
	ClearedAt time.Time `json:"cleared_at,omitzero"`
}

// AddBreak records a break and marks the chain broken; the same break
// found again (a redelivered batch) is recorded once.
func (s *AuditState) AddBreak(b AuditBreak) bool {
	if n := len(s.Breaks); n > 0 && s.Breaks[n-1].Seq == b.Seq && s.Breaks[n-1].Reason == b.Reason {
		return false
	}
	s.Broken = true
	s.BreakCount++
	s.Breaks = append(s.Breaks, b)
	if len(s.Breaks) > maxBreaks {
		s.Breaks = s.Breaks[len(s.Breaks)-maxBreaks:]
	}
	return true
}

// Mark remembers the position HQ gives the box now and returns it.
func (s *AuditState) Mark() AuditMark {
	m := AuditMark{s.Seq, s.Digest}
	if n := len(s.Marks); n == 0 || s.Marks[n-1] != m {
		s.Marks = append(s.Marks, m)
		if len(s.Marks) > maxMarks {
			s.Marks = s.Marks[len(s.Marks)-maxMarks:]
		}
	}
	return m
}

// MarkDigest returns the digest HQ held at seq when it gave the box that
// position, and whether it knows it.
func (s *AuditState) MarkDigest(seq uint64) (string, bool) {
	if seq == s.Seq {
		return s.Digest, true
	}
	for _, m := range s.Marks {
		if m.Seq == seq {
			return m.Digest, true
		}
	}
	return "", false
}

// Restart takes the chain up again at seq with digest d, below entries HQ
// holds, in a new epoch.
func (s *AuditState) Restart(seq uint64, d string) {
	s.Epoch++
	s.Seq, s.Head, s.Digest, s.Marks, s.Reanchor = seq, d, d, nil, false
}

// An AuditEntry is one entry of a box's chain as HQ holds it. Bad names
// the break found at this entry, if any.
type AuditEntry struct {
	store.Entry
	Epoch uint32 `json:"epoch"`
	Bad   string `json:"bad,omitempty"`
}

func auditKey(box string, epoch uint32, seq uint64) []byte {
	k := make([]byte, 0, len(box)+13)
	k = append(k, box...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint32(k, epoch)
	return binary.BigEndian.AppendUint64(k, seq)
}

// UpdateAudit changes one box's audit state in a transaction: f sees the
// current state (a zero one for a box not seen before), edits it and
// returns the entries to keep, which are stored with it. An error from f
// stores nothing. It returns the state as stored.
func (s *Store) UpdateAudit(box string, f func(*AuditState) ([]AuditEntry, error)) (AuditState, error) {
	var st AuditState
	err := s.db.Update(func(tx *bolt.Tx) error {
		sb, err := tx.CreateBucketIfNotExists(bAuditState)
		if err != nil {
			return err
		}
		eb, err := tx.CreateBucketIfNotExists(bAuditEntries)
		if err != nil {
			return err
		}
		st = AuditState{}
		if v := sb.Get([]byte(box)); v != nil {
			if err := json.Unmarshal(v, &st); err != nil {
				return fmt.Errorf("state: %w", err)
			}
		}
		st.Box = box
		keep, err := f(&st)
		if err != nil {
			return err
		}
		for _, e := range keep {
			v, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := eb.Put(auditKey(box, e.Epoch, e.Seq), v); err != nil {
				return err
			}
		}
		v, err := json.Marshal(&st)
		if err != nil {
			return err
		}
		return sb.Put([]byte(box), v)
	})
	if err != nil {
		return AuditState{}, fmt.Errorf("hqstore: update audit %s: %w", box, err)
	}
	return st, nil
}

// AuditStates returns every box's audit state, by box.
func (s *Store) AuditStates() (map[string]AuditState, error) {
	out := map[string]AuditState{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bAuditState)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var st AuditState
			if err := json.Unmarshal(v, &st); err != nil {
				return fmt.Errorf("box %s: %w", k, err)
			}
			out[string(k)] = st
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("hqstore: audit states: %w", err)
	}
	return out, nil
}

// AuditEntries returns up to limit entries of a box's chain in an epoch
// after seq, oldest first.
func (s *Store) AuditEntries(box string, epoch uint32, after uint64, limit int) ([]AuditEntry, error) {
	var out []AuditEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bAuditEntries)
		if b == nil {
			return nil
		}
		prefix := auditKey(box, epoch, 0)[:len(box)+5]
		c := b.Cursor()
		for k, v := c.Seek(auditKey(box, epoch, after+1)); k != nil && len(out) < limit; k, v = c.Next() {
			if len(k) != len(prefix)+8 || string(k[:len(prefix)]) != string(prefix) {
				break
			}
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("entry %x: %w", k, err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hqstore: audit entries %s: %w", box, err)
	}
	return out, nil
}

// ClearAuditBreak clears a box's broken flag (the breaks stay listed), as
// an operator does once the box has been looked at.
func (s *Store) ClearAuditBreak(box, by string, at time.Time) (AuditState, error) {
	return s.UpdateAudit(box, func(st *AuditState) ([]AuditEntry, error) {
		st.Broken, st.ClearedBy, st.ClearedAt = false, by, at
		return nil, nil
	})
}
