package hqstore

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"venuebox/store"
)

// HQ's own audit log: every action taken at HQ (events, imports, edits,
// revocations, keys, manifests, sessions, views of clear data), hash-chained
// as a box's is (store.Entry, store.HashEntry). Bucket "hq-log" seq(8) →
// JSON store.Entry; its head is the last entry.
var bHQLog = []byte("hq-log")

// AppendLog numbers e, links it to the log's last entry and stores it. It
// returns the entry as stored.
func (s *Store) AppendLog(e store.Entry) (store.Entry, error) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.At = e.At.UTC()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bHQLog)
		if err != nil {
			return err
		}
		e.Seq, e.Prev = 1, ""
		if k, v := b.Cursor().Last(); k != nil {
			var last store.Entry
			if err := json.Unmarshal(v, &last); err != nil {
				return fmt.Errorf("last entry: %w", err)
			}
			e.Seq, e.Prev = last.Seq+1, last.Hash
		}
		e.Hash = store.HashEntry(e)
		return putJSON(b, binary.BigEndian.AppendUint64(nil, e.Seq), e)
	})
	if err != nil {
		return store.Entry{}, fmt.Errorf("hqstore: append log: %w", err)
	}
	return e, nil
}

// Log returns up to limit entries of HQ's log, newest first, before seq
// (0: from the newest).
func (s *Store) Log(before uint64, limit int) ([]store.Entry, error) {
	var out []store.Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bHQLog)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		var k, v []byte
		if before == 0 {
			k, v = c.Last()
		} else {
			c.Seek(binary.BigEndian.AppendUint64(nil, before))
			k, v = c.Prev()
		}
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			var e store.Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("entry %x: %w", k, err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hqstore: log: %w", err)
	}
	return out, nil
}

// VerifyLog walks HQ's log and returns how many entries it holds, or an
// error wrapping store.ErrChain naming the first that does not verify.
func (s *Store) VerifyLog() (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bHQLog)
		if b == nil {
			return nil
		}
		prev := ""
		return b.ForEach(func(k, v []byte) error {
			var e store.Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("%w: entry %x does not decode", store.ErrChain, k)
			}
			n++
			switch {
			case e.Seq != uint64(n) || binary.BigEndian.Uint64(k) != e.Seq:
				return fmt.Errorf("%w: entry %d missing", store.ErrChain, n)
			case e.Prev != prev:
				return fmt.Errorf("%w: entry %d does not follow entry %d", store.ErrChain, e.Seq, e.Seq-1)
			case store.HashEntry(e) != e.Hash:
				return fmt.Errorf("%w: entry %d was altered", store.ErrChain, e.Seq)
			}
			prev = e.Hash
			return nil
		})
	})
	return n, err
}
