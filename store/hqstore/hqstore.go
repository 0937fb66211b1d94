// Package hqstore is HQ's attendance store on bbolt: every check-in the boxes
// send, stored exactly once whatever the redeliveries (keyed by its nonce,
// and by box, boot and sequence number), the per-box high-water marks that
// reveal gaps, the conflicts (a ticket admitted first-time at more than one
// gate), attendance per event, and the fleet: each box's last known state.
//
// Layout (schema version 1): bucket "checkins" nonce → JSON CheckIn;
// "seq" box 0x00 boot(8) seq(8) → nonce; "events" event 0x00 at(8) nonce →
// nil; "admits" event 0x00 ticket 0x00 nonce → nil for first-time
// admissions not undone; "undone" nonce → nil for admissions staff undid;
// "boxes" box → JSON Box; "meta" schema → version.
package hqstore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Schema is the layout version written to the "meta" bucket.
const Schema = 1

var (
	bCheckins = []byte("checkins")
	bSeq      = []byte("seq")
	bEvents   = []byte("events")
	bAdmits   = []byte("admits")
	bUndone   = []byte("undone")
	bBoxes    = []byte("boxes")
	bMeta     = []byte("meta")
)

// ErrSchema is returned by Open for a file written by another layout version.
var ErrSchema = errors.New("hqstore: unknown schema version")

// A CheckIn is one decision made at a gate, as HQ holds it.
type CheckIn struct {
	Nonce      string    `json:"nonce"`
	Org        string    `json:"org,omitempty"`
	Venue      string    `json:"venue,omitempty"`
	Box        string    `json:"box"`
	Gate       string    `json:"gate,omitempty"`
	Boot       uint64    `json:"boot"`
	Seq        uint64    `json:"seq"`
	Event      string    `json:"event"`
	Ticket     string    `json:"ticket"`
	Verdict    string    `json:"verdict"`
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
	TempC      *float64  `json:"temp_c,omitempty"`
	Input      string    `json:"input,omitempty"`
	Staff      string    `json:"staff,omitempty"`
	Note       string    `json:"note,omitempty"`
	Historical bool      `json:"historical,omitempty"`
	Received   time.Time `json:"received"`
}

// Undoes returns the nonce of the admission c undoes, for a staff undo
// (reason "undo", note "undo <nonce>: <why>" as the box's store writes
// it), or "".
func (c *CheckIn) Undoes() string {
	if c.Reason != "undo" || c.Staff == "" {
		return ""
	}
	rest, ok := strings.CutPrefix(c.Note, "undo ")
	if !ok {
		return ""
	}
	nonce, _, ok := strings.Cut(rest, ": ")
	if !ok || nonce == "" {
		return ""
	}
	return nonce
}

// FirstEntry reports whether c is a first-time admission: the kind that
// must happen once per ticket, so that two of them make a conflict.
func (c *CheckIn) FirstEntry() bool { return c.Verdict == "admitted" && c.Reason == "ok" }

// A Gap is an inclusive run of sequence numbers of one boot of one box that
// HQ has not received although it holds a later one.
type Gap struct {
	Boot uint64 `json:"boot"`
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// A Box is HQ's view of one box.
type Box struct {
	Box       string            `json:"box"`
	Org       string            `json:"org,omitempty"`
	Venue     string            `json:"venue,omitempty"`
	Online    bool              `json:"online"`
	Session   uint64            `json:"session"`
	LastSeen  time.Time         `json:"last_seen"`
	Queued    int               `json:"queued"`
	Manifests map[string]uint64 `json:"manifests,omitempty"`
	Software  string            `json:"software,omitempty"`
	OffsetMS  int64             `json:"clock_offset_ms"`
	// Contig is, per boot, the highest sequence number below which HQ
	// holds every check-in; Max the highest it holds.
	Contig map[uint64]uint64 `json:"contig,omitempty"`
	Max    map[uint64]uint64 `json:"max,omitempty"`
	Gaps   []Gap             `json:"gaps,omitempty"`
	// AuditSeq and AuditHead are the last verified position of the box's
	// audit chain.
	AuditSeq  uint64 `json:"audit_seq,omitempty"`
	AuditHead string `json:"audit_head,omitempty"`
}

// A Result says what one Ingest did.
type Result struct {
	// Stored counts the check-ins new to HQ; Duplicates those it already held.
	Stored, Duplicates int
	// Conflicts lists the tickets this ingest made (or kept) conflicting.
	Conflicts []ConflictKey
	// Gaps holds each touched box's gaps after the ingest.
	Gaps map[string][]Gap
}

// A ConflictKey names a ticket of an event.
type ConflictKey struct{ Event, Ticket string }

// A Conflict is a ticket admitted first-time more than once.
type Conflict struct {
	Event      string    `json:"event"`
	Ticket     string    `json:"ticket"`
	Admissions []CheckIn `json:"admissions"`
}

// Store is HQ's attendance store. It is safe for concurrent use.
type Store struct {
	db  *bolt.DB
	log *slog.Logger
}

// Open opens or creates the store at path.
func Open(path string, log *slog.Logger) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("hqstore: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bCheckins, bSeq, bEvents, bAdmits, bUndone, bBoxes, bMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		m := tx.Bucket(bMeta)
		v := m.Get([]byte("schema"))
		if v == nil {
			return m.Put([]byte("schema"), u64(Schema))
		}
		if len(v) != 8 || binary.BigEndian.Uint64(v) != Schema {
			return ErrSchema
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("hqstore: open %s: %w", path, err)
	}
	return &Store{db: db, log: log}, nil
}

// Close closes the file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("hqstore: close: %w", err)
	}
	return nil
}

func u64(v uint64) []byte { var b [8]byte; binary.BigEndian.PutUint64(b[:], v); return b[:] }

func seqKey(box string, boot, seq uint64) []byte {
	k := make([]byte, 0, len(box)+17)
	k = append(k, box...)
	k = append(k, 0)
	k = append(k, u64(boot)...)
	return append(k, u64(seq)...)
}

func eventKey(c *CheckIn) []byte {
	k := make([]byte, 0, len(c.Event)+10+len(c.Nonce))
	k = append(k, c.Event...)
	k = append(k, 0)
	k = append(k, u64(uint64(c.At.UnixNano()))...)
	return append(k, c.Nonce...)
}

func admitPrefix(event, ticket string) []byte {
	k := make([]byte, 0, len(event)+len(ticket)+2)
	k = append(k, event...)
	k = append(k, 0)
	k = append(k, ticket...)
	return append(k, 0)
}

// maxGaps caps the gaps kept and reported per box.
const maxGaps = 32

// Ingest stores check-ins in one transaction: each new one once, each one
// HQ already holds (same nonce, or same box, boot and sequence) counted as
// a duplicate. It advances each box's high-water marks and returns its gaps.
// Check-ins with an empty nonce or box, or sequence 0, are refused before
// anything is written.
func (s *Store) Ingest(cs []CheckIn) (Result, error) {
	for i := range cs {
		if cs[i].Nonce == "" || cs[i].Box == "" || cs[i].Seq == 0 {
			return Result{}, fmt.Errorf("hqstore: ingest: check-in %d lacks nonce, box or seq", i)
		}
	}
	var res Result
	err := s.db.Update(func(tx *bolt.Tx) error {
		res = Result{Gaps: map[string][]Gap{}}
		ck, sq, ev, ad := tx.Bucket(bCheckins), tx.Bucket(bSeq), tx.Bucket(bEvents), tx.Bucket(bAdmits)
		boxes := map[string]*Box{}
		conflicts := map[ConflictKey]bool{}
		for i := range cs {
			c := &cs[i]
			if ck.Get([]byte(c.Nonce)) != nil {
				res.Duplicates++
				continue
			}
			sk := seqKey(c.Box, c.Boot, c.Seq)
			if sq.Get(sk) != nil {
				res.Duplicates++
				continue
			}
			rec, err := json.Marshal(c)
			if err != nil {
				return err
			}
			if err := ck.Put([]byte(c.Nonce), rec); err != nil {
				return err
			}
			if err := sq.Put(sk, []byte(c.Nonce)); err != nil {
				return err
			}
			if c.Event != "" {
				if err := ev.Put(eventKey(c), nil); err != nil {
					return err
				}
				if undone := c.Undoes(); undone != "" {
					// Staff undid an admission (the person did not pass): it
					// no longer counts, whichever of the two arrives first.
					if err := tx.Bucket(bUndone).Put([]byte(undone), nil); err != nil {
						return err
					}
					if err := ad.Delete(append(admitPrefix(c.Event, c.Ticket), undone...)); err != nil {
						return err
					}
				}
				if c.FirstEntry() && tx.Bucket(bUndone).Get([]byte(c.Nonce)) == nil {
					p := admitPrefix(c.Event, c.Ticket)
					cur := ad.Cursor()
					if k, _ := cur.Seek(p); k != nil && bytes.HasPrefix(k, p) {
						conflicts[ConflictKey{c.Event, c.Ticket}] = true
					}
					if err := ad.Put(append(p, c.Nonce...), nil); err != nil {
						return err
					}
				}
			}
			res.Stored++
			b := boxes[c.Box]
			if b == nil {
				b, err = getBox(tx, c.Box)
				if err != nil {
					return err
				}
				boxes[c.Box] = b
			}
			if c.Org != "" {
				b.Org, b.Venue = c.Org, c.Venue
			}
			if b.Max == nil {
				b.Max, b.Contig = map[uint64]uint64{}, map[uint64]uint64{}
			}
			if c.Received.After(b.LastSeen) {
				b.LastSeen = c.Received
			}
			if c.Seq > b.Max[c.Boot] {
				b.Max[c.Boot] = c.Seq
			}
		}
		for name, b := range boxes {
			advance(sq, b)
			if err := putBox(tx, b); err != nil {
				return err
			}
			res.Gaps[name] = b.Gaps
		}
		for k := range conflicts {
			res.Conflicts = append(res.Conflicts, k)
		}
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("hqstore: ingest: %w", err)
	}
	return res, nil
}

// advance moves each boot's contiguous mark over the sequence numbers now
// held and recomputes the box's gaps. A boot whose first check-in HQ sees
// does not start at 1 starts where the previous boot ended, when it
// continues that numbering.
func advance(sq *bolt.Bucket, b *Box) {
	b.Gaps = b.Gaps[:0]
	boots := make([]uint64, 0, len(b.Max))
	for boot := range b.Max {
		boots = append(boots, boot)
	}
	sort.Slice(boots, func(i, j int) bool { return boots[i] < boots[j] })
	cur := sq.Cursor()
	for i, boot := range boots {
		contig, ok := b.Contig[boot]
		if !ok && i > 0 {
			prev := b.Max[boots[i-1]]
			if sq.Get(seqKey(b.Box, boot, prev+1)) != nil {
				contig = prev
			}
		}
		// Walk forward over held sequence numbers.
		k, _ := cur.Seek(seqKey(b.Box, boot, contig+1))
		for k != nil && bytes.Equal(k, seqKey(b.Box, boot, contig+1)) {
			contig++
			k, _ = cur.Next()
		}
		b.Contig[boot] = contig
		// Gaps between contig and max.
		next := contig + 1
		for k != nil && len(b.Gaps) < maxGaps {
			if len(k) != len(b.Box)+17 || !bytes.HasPrefix(k, []byte(b.Box+"\x00")) || binary.BigEndian.Uint64(k[len(b.Box)+1:]) != boot {
				break
			}
			s := binary.BigEndian.Uint64(k[len(b.Box)+9:])
			if s > next {
				b.Gaps = append(b.Gaps, Gap{Boot: boot, From: next, To: s - 1})
			}
			next = s + 1
			k, _ = cur.Next()
		}
	}
}

func getBox(tx *bolt.Tx, name string) (*Box, error) {
	v := tx.Bucket(bBoxes).Get([]byte(name))
	b := &Box{Box: name}
	if v != nil {
		if err := json.Unmarshal(v, b); err != nil {
			return nil, fmt.Errorf("box %s: %w", name, err)
		}
	}
	return b, nil
}

func putBox(tx *bolt.Tx, b *Box) error {
	v, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return tx.Bucket(bBoxes).Put([]byte(b.Box), v)
}

// UpdateBox changes one box's record in a transaction; f sees the current
// record (a zero one for a new box) and edits it.
func (s *Store) UpdateBox(name string, f func(*Box)) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := getBox(tx, name)
		if err != nil {
			return err
		}
		f(b)
		b.Box = name
		return putBox(tx, b)
	})
	if err != nil {
		return fmt.Errorf("hqstore: update box %s: %w", name, err)
	}
	return nil
}

// Boxes returns every box's record, sorted by name.
func (s *Store) Boxes() ([]Box, error) {
	var out []Box
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bBoxes).ForEach(func(k, v []byte) error {
			var b Box
			if err := json.Unmarshal(v, &b); err != nil {
				return fmt.Errorf("box %s: %w", k, err)
			}
			out = append(out, b)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("hqstore: boxes: %w", err)
	}
	return out, nil
}

// Attendance returns an event's check-ins in time order.
func (s *Store) Attendance(event string) ([]CheckIn, error) {
	var out []CheckIn
	err := s.db.View(func(tx *bolt.Tx) error {
		ck := tx.Bucket(bCheckins)
		p := append([]byte(event), 0)
		c := tx.Bucket(bEvents).Cursor()
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			nonce := k[len(p)+8:]
			v := ck.Get(nonce)
			if v == nil {
				return fmt.Errorf("index names missing check-in %q", nonce)
			}
			var r CheckIn
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("check-in %q: %w", nonce, err)
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hqstore: attendance %s: %w", event, err)
	}
	return out, nil
}

// Conflicts returns an event's tickets admitted first-time more than once,
// each with its admissions in time order.
func (s *Store) Conflicts(event string) ([]Conflict, error) {
	var out []Conflict
	err := s.db.View(func(tx *bolt.Tx) error {
		ck := tx.Bucket(bCheckins)
		p := append([]byte(event), 0)
		c := tx.Bucket(bAdmits).Cursor()
		var cur *Conflict
		// Only tickets admitted more than once are decoded: walking the
		// keys costs little, decoding every admission a lot.
		var nonces []string
		decode := func(cf *Conflict) error {
			for _, n := range nonces {
				var r CheckIn
				if err := json.Unmarshal(ck.Get([]byte(n)), &r); err != nil {
					return fmt.Errorf("check-in %q: %w", n, err)
				}
				cf.Admissions = append(cf.Admissions, r)
			}
			return nil
		}
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			rest := k[len(p):]
			i := bytes.IndexByte(rest, 0)
			if i < 0 {
				return fmt.Errorf("bad admit key %q", k)
			}
			ticket, nonce := string(rest[:i]), rest[i+1:]
			if cur == nil || cur.Ticket != ticket {
				if cur != nil && len(nonces) > 1 {
					out = append(out, *cur)
					if err := decode(&out[len(out)-1]); err != nil {
						return err
					}
				}
				cur = &Conflict{Event: event, Ticket: ticket}
				nonces = nonces[:0]
			}
			nonces = append(nonces, string(nonce))
		}
		if cur != nil && len(nonces) > 1 {
			out = append(out, *cur)
			return decode(&out[len(out)-1])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hqstore: conflicts %s: %w", event, err)
	}
	for i := range out {
		a := out[i].Admissions
		sort.Slice(a, func(x, y int) bool { return a[x].At.Before(a[y].At) })
	}
	return out, nil
}

// Count returns how many check-ins HQ holds.
func (s *Store) Count() (int, error) {
	var n int
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bCheckins).Stats().KeyN
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("hqstore: count: %w", err)
	}
	return n, nil
}

// Get returns the check-in with the given nonce, and whether HQ holds it.
func (s *Store) Get(nonce string) (CheckIn, bool, error) {
	var r CheckIn
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bCheckins).Get([]byte(nonce))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &r)
	})
	if err != nil {
		return CheckIn{}, false, fmt.Errorf("hqstore: get: %w", err)
	}
	return r, ok, nil
}

// Check verifies the store's consistency: every index entry names a
// check-in, and every check-in has its sequence entry. It returns the
// first problem found.
func (s *Store) Check() error {
	err := s.db.View(func(tx *bolt.Tx) error {
		ck := tx.Bucket(bCheckins)
		n := 0
		if err := tx.Bucket(bSeq).ForEach(func(k, v []byte) error {
			n++
			if ck.Get(v) == nil {
				return fmt.Errorf("seq entry %x names missing check-in %q", k, v)
			}
			return nil
		}); err != nil {
			return err
		}
		if m := ck.Stats().KeyN; m != n {
			return fmt.Errorf("%d check-ins but %d sequence entries", m, n)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("hqstore: check: %w", err)
	}
	return nil
}
