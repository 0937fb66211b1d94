package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Presented is what was scanned or tapped, as the application resolved it
// before the transaction (signature checks are pure and stay outside it).
// Exactly one way of looking up applies: Event and Ticket for a verified
// signed code, CodeHash for an unsigned one, CardHash for a card; none for
// input that could not be a credential.
type Presented struct {
	// Input is the raw input; only its hash is kept.
	Input []byte
	// Event and Ticket name a verified signed code's ticket.
	Event, Ticket string
	// CodeHash is the SHA-256 of an unsigned code, as manifests list it.
	CodeHash string
	// CardHash, for a card, returns the UID's hash under an event's card key.
	CardHash func(key []byte) string
	Gate     string
	TempC    *float64
	Staff    string
	Note     string
}

// Found is what Admit looked up for the decision.
type Found struct {
	Event    *Event  // nil when no event of this box matched
	TicketID string  // "" when no ticket matched
	Ticket   *Ticket // the manifest entry; nil when the cache has none
	Revoked  bool
	// Admissions are the ticket's earlier admissions at any gate.
	Admissions []Use
	// Newest is the newest wall time recorded; Boot this boot's counter.
	Newest time.Time
	Boot   uint64
}

// Outcome is the decision to record.
type Outcome struct {
	Verdict, Reason string
	At              time.Time
	// Repeat means a double scan: nothing is recorded.
	Repeat bool
}

// Result is what Admit did.
type Result struct {
	CheckIn CheckIn // as recorded; for a Repeat, what would have been
	Found   Found
	Repeat  bool
}

// InputHash returns the hex SHA-256 of a raw input, the only form in which
// inputs are stored: whole in the audit log, its first 16 digits in the
// check-in.
func InputHash(input []byte) string {
	sum := sha256.Sum256(input)
	return hex.EncodeToString(sum[:])
}

// Admit looks p up, calls decide with what it found, and records the
// outcome in one fsync'd write transaction: the check-in, its outbox entry,
// the ticket's admission, the counts and the audit entry. When Admit
// returns without error the decision is on disk. decide must not block: it
// runs inside the transaction.
func (s *Store) Admit(p Presented, decide func(Found) Outcome) (Result, error) {
	var res Result
	inputHash := InputHash(p.Input)
	err := s.db.Update(func(tx *bolt.Tx) error {
		f, ev, err := s.lookup(tx, p)
		if err != nil {
			return err
		}
		out := decide(f)
		res = Result{Found: f, Repeat: out.Repeat}
		res.CheckIn = CheckIn{
			Box: s.id.Box, Gate: p.Gate, Boot: s.boot, Ticket: f.TicketID,
			Verdict: out.Verdict, Reason: out.Reason, At: out.At.UTC(), TempC: p.TempC,
			Input: inputHash[:16], Staff: p.Staff, Note: p.Note,
		}
		if f.Event != nil {
			res.CheckIn.Event = f.Event.ID
		}
		if out.Repeat {
			return nil
		}
		if err := s.record(tx, &res.CheckIn, ev); err != nil {
			return err
		}
		return appendAudit(tx, Entry{
			At: res.CheckIn.At, Kind: "decision", Actor: actor(p), Subject: res.CheckIn.Nonce,
			Verdict: out.Verdict, Reason: out.Reason, Input: inputHash,
		})
	})
	if err != nil {
		return Result{}, fmt.Errorf("store: admit: %w", err)
	}
	return res, nil
}

func actor(p Presented) string {
	if p.Staff != "" {
		return p.Staff
	}
	return p.Gate
}

// lookup finds the event, ticket and history for p.
func (s *Store) lookup(tx *bolt.Tx, p Presented) (Found, *bolt.Bucket, error) {
	f := Found{Newest: getTime(tx.Bucket(bMeta), kNewest), Boot: s.boot}
	var err error
	var ev *bolt.Bucket
	switch {
	case p.Event != "":
		ev = eventBucket(tx, p.Event)
		f.TicketID = p.Ticket
		if ev == nil {
			// A verified code of an event whose cache this box lacks.
			return f, nil, nil
		}
		if f.Event, err = getJSON[Event](tx.Bucket(bEvents), []byte(p.Event)); err != nil {
			return f, nil, err
		}
	case p.CodeHash != "" || p.CardHash != nil:
		err = eachEvent(tx, func(e *Event, b *bolt.Bucket) (bool, error) {
			var id []byte
			if p.CodeHash != "" {
				id = b.Bucket(bCodes).Get([]byte(p.CodeHash))
			} else if len(e.CardKey) > 0 {
				card, err := getJSON[Card](b.Bucket(bCards), []byte(p.CardHash(e.CardKey)))
				if err != nil || card == nil {
					return false, err
				}
				id = []byte(card.Ticket)
			}
			if id == nil {
				return false, nil
			}
			f.Event, f.TicketID, ev = e, string(id), b
			return true, nil
		})
		if err != nil || ev == nil {
			return f, nil, err
		}
	default:
		return f, nil, nil
	}
	id := []byte(f.TicketID)
	if f.Ticket, err = getJSON[Ticket](ev.Bucket(bTickets), id); err != nil {
		return f, nil, err
	}
	f.Revoked = ev.Bucket(bRevoked).Get(id) != nil
	uses, err := getJSON[[]Use](ev.Bucket(bUses), id)
	if err != nil {
		return f, nil, err
	}
	if uses != nil {
		f.Admissions = *uses
	}
	return f, ev, nil
}

// eachEvent calls fn for each event and its bucket until fn says stop.
func eachEvent(tx *bolt.Tx, fn func(*Event, *bolt.Bucket) (bool, error)) error {
	c := tx.Bucket(bEvents).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var e Event
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("store: event %q: %w", k, err)
		}
		b := eventBucket(tx, e.ID)
		if b == nil {
			continue
		}
		if stop, err := fn(&e, b); err != nil || stop {
			return err
		}
	}
	return nil
}

// record numbers c, stores it with its outbox entry and updates the
// ticket's admissions, the counts and the newest time.
func (s *Store) record(tx *bolt.Tx, c *CheckIn, ev *bolt.Bucket) error {
	meta := tx.Bucket(bMeta)
	c.Seq = getU64(meta, kSeq) + 1
	key := seqKey(c.Boot, c.Seq)
	c.Nonce = newNonce(key)
	if err := putJSON(tx.Bucket(bCheckins), key, c); err != nil {
		return err
	}
	if err := tx.Bucket(bOutbox).Put(key, []byte(c.Nonce)); err != nil {
		return err
	}
	if err := meta.Put(kSeq, u64(c.Seq)); err != nil {
		return err
	}
	if err := meta.Put(kQueued, u64(getU64(meta, kQueued)+1)); err != nil {
		return err
	}
	if c.At.After(getTime(meta, kNewest)) {
		if err := putTime(meta, kNewest, c.At); err != nil {
			return err
		}
	}
	if ev == nil {
		return s.count(tx, nil, c.Verdict)
	}
	if c.Verdict == "admitted" && c.Ticket != "" {
		if err := addUse(ev, c.Ticket, Use{At: c.At, Gate: c.Gate, Verdict: c.Verdict, Reason: c.Reason, Boot: c.Boot, Nonce: c.Nonce}); err != nil {
			return err
		}
	}
	return s.count(tx, ev, c.Verdict)
}

// addUse appends an admission to a ticket's history, once per nonce.
func addUse(ev *bolt.Bucket, ticket string, u Use) error {
	uses, err := getJSON[[]Use](ev.Bucket(bUses), []byte(ticket))
	if err != nil {
		return err
	}
	var list []Use
	if uses != nil {
		list = *uses
	}
	for _, had := range list {
		if had.Nonce == u.Nonce {
			return nil
		}
	}
	return putJSON(ev.Bucket(bUses), []byte(ticket), append(list, u))
}

// count adds one decision of verdict to the event's counts, or to the box's
// own counts for decisions that matched no event.
func (s *Store) count(tx *bolt.Tx, ev *bolt.Bucket, verdict string) error {
	b := tx.Bucket(bMeta)
	key := []byte("count/" + verdict)
	if ev != nil {
		b, key = ev.Bucket(bCounts), []byte(verdict)
	}
	return b.Put(key, u64(getU64(b, key)+1))
}

// Counts returns the decisions per verdict of the box's current events,
// plus those that matched no event (unknown codes, unreadable input).
func (s *Store) Counts() (Counts, error) {
	var c Counts
	add := func(b *bolt.Bucket, prefix string) {
		c.Admitted += int(getU64(b, []byte(prefix+"admitted")))
		c.Rejected += int(getU64(b, []byte(prefix+"rejected")))
		c.Held += int(getU64(b, []byte(prefix+"held")))
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		add(tx.Bucket(bMeta), "count/")
		return eachEvent(tx, func(_ *Event, b *bolt.Bucket) (bool, error) {
			add(b.Bucket(bCounts), "")
			return false, nil
		})
	})
	return c, err
}
