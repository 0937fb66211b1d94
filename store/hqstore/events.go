package hqstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The events HQ issues tickets for and their attendees (buckets created on
// first use): "hq-events" event id → JSON Event; "attendees" event 0x00
// number(8) → JSON Attendee, holder data in clear: HQ is the issuing desk,
// the one place that holds it (boxes get it sealed and masked).
var (
	bHQEvents  = []byte("hq-events")
	bAttendees = []byte("attendees")
)

// Errors of the event store.
var (
	ErrExists   = errors.New("hqstore: already exists")
	ErrNotFound = errors.New("hqstore: not found")
)

// A Class is a ticket class and what it gives its holder.
type Class struct {
	Name    string `json:"name"`
	Benefit string `json:"benefit,omitempty"`
	Points  int    `json:"points,omitempty"`
}

// An Event is an event HQ issues tickets for.
type Event struct {
	ID    string    `json:"id"`
	Name  string    `json:"name"`
	Venue string    `json:"venue"`
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	Zones []string  `json:"zones,omitempty"`
	// Reentry lets a ticket in again after its first admission.
	Reentry bool    `json:"reentry,omitempty"`
	Classes []Class `json:"classes,omitempty"`
	// VIPLevels are the member levels whose arrivals the dashboard lists.
	VIPLevels []string `json:"vip_levels,omitempty"`
	// CardKey keys the manifest's card UID hashes, the same in every version.
	CardKey []byte `json:"card_key,omitempty"`
	// Next is the number of the last ticket issued.
	Next uint64 `json:"next"`
	// Version is the manifest version last published, at Published.
	Version   uint64    `json:"version,omitempty"`
	Published time.Time `json:"published,omitzero"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
}

// An Attendee is one ticket of an event and its holder.
type Attendee struct {
	Event       string `json:"event"`
	ID          string `json:"id"` // the ticket number in decimal
	Number      uint64 `json:"number"`
	Name        string `json:"name"`
	Phone       string `json:"phone"`
	MemberLevel string `json:"member_level,omitempty"`
	CardUID     string `json:"card_uid,omitempty"`
	Class       string `json:"class,omitempty"`
	Zone        string `json:"zone,omitempty"`
	// Code is the signed ticket code (a bearer secret) and Key the id of
	// the key that signed it.
	Code      string    `json:"code"`
	Key       string    `json:"key"`
	Revoked   bool      `json:"revoked,omitempty"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	RevokedBy string    `json:"revoked_by,omitempty"`
	// Import names the import that added it, Line its row in that file.
	Import  string    `json:"import,omitempty"`
	Line    int       `json:"line,omitempty"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

func attendeeKey(event string, n uint64) []byte {
	k := append([]byte(event), 0)
	return binary.BigEndian.AppendUint64(k, n)
}

func getJSON(b *bolt.Bucket, k []byte, v any) (bool, error) {
	raw := b.Get(k)
	if raw == nil {
		return false, nil
	}
	return true, json.Unmarshal(raw, v)
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, raw)
}

func (s *Store) updateEvents(f func(ev, at *bolt.Bucket) error) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		ev, err := tx.CreateBucketIfNotExists(bHQEvents)
		if err != nil {
			return err
		}
		at, err := tx.CreateBucketIfNotExists(bAttendees)
		if err != nil {
			return err
		}
		return f(ev, at)
	})
}

// CreateEvent stores a new event; ErrExists when its id is taken.
func (s *Store) CreateEvent(e Event) error {
	err := s.updateEvents(func(ev, _ *bolt.Bucket) error {
		if ev.Get([]byte(e.ID)) != nil {
			return ErrExists
		}
		return putJSON(ev, []byte(e.ID), e)
	})
	if err != nil {
		return fmt.Errorf("hqstore: create event %s: %w", e.ID, err)
	}
	return nil
}

// UpdateEvent changes an event in a transaction; ErrNotFound when there is
// none. An error from f changes nothing.
func (s *Store) UpdateEvent(id string, f func(*Event) error) (Event, error) {
	var e Event
	err := s.updateEvents(func(ev, _ *bolt.Bucket) error {
		ok, err := getJSON(ev, []byte(id), &e)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if err := f(&e); err != nil {
			return err
		}
		return putJSON(ev, []byte(id), e)
	})
	if err != nil {
		return Event{}, fmt.Errorf("hqstore: update event %s: %w", id, err)
	}
	return e, nil
}

// Event returns an event, and whether there is one.
func (s *Store) Event(id string) (Event, bool, error) {
	var e Event
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bHQEvents)
		if b == nil {
			return nil
		}
		var err error
		ok, err = getJSON(b, []byte(id), &e)
		return err
	})
	if err != nil {
		return Event{}, false, fmt.Errorf("hqstore: event %s: %w", id, err)
	}
	return e, ok, nil
}

// Events returns every event, by id.
func (s *Store) Events() ([]Event, error) {
	var out []Event
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bHQEvents)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var e Event
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("event %s: %w", k, err)
			}
			out = append(out, e)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("hqstore: events: %w", err)
	}
	return out, nil
}

// AddAttendees numbers new attendees of an event from the event's counter
// and stores them in one transaction; sign gives each its code (it sees
// the number) before it is stored. An error from sign stores none.
func (s *Store) AddAttendees(event string, as []Attendee, sign func(*Attendee) error) ([]Attendee, error) {
	out := make([]Attendee, 0, len(as))
	err := s.updateEvents(func(ev, at *bolt.Bucket) error {
		out = out[:0]
		var e Event
		ok, err := getJSON(ev, []byte(event), &e)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		for _, a := range as {
			e.Next++
			a.Event, a.Number, a.ID = event, e.Next, strconv.FormatUint(e.Next, 10)
			if err := sign(&a); err != nil {
				return err
			}
			if err := putJSON(at, attendeeKey(event, a.Number), a); err != nil {
				return err
			}
			out = append(out, a)
		}
		return putJSON(ev, []byte(event), e)
	})
	if err != nil {
		return nil, fmt.Errorf("hqstore: add attendees to %s: %w", event, err)
	}
	return out, nil
}

// UpdateAttendee changes one attendee in a transaction; ErrNotFound when
// the event has no such ticket.
func (s *Store) UpdateAttendee(event string, number uint64, f func(*Attendee) error) (Attendee, error) {
	var a Attendee
	err := s.updateEvents(func(_, at *bolt.Bucket) error {
		ok, err := getJSON(at, attendeeKey(event, number), &a)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if err := f(&a); err != nil {
			return err
		}
		return putJSON(at, attendeeKey(event, number), a)
	})
	if err != nil {
		return Attendee{}, fmt.Errorf("hqstore: update attendee %s/%d: %w", event, number, err)
	}
	return a, nil
}

// Attendees returns an event's attendees in ticket order.
func (s *Store) Attendees(event string) ([]Attendee, error) {
	var out []Attendee
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bAttendees)
		if b == nil {
			return nil
		}
		p := append([]byte(event), 0)
		c := b.Cursor()
		for k, v := c.Seek(p); k != nil && len(k) == len(p)+8 && string(k[:len(p)]) == string(p); k, v = c.Next() {
			var a Attendee
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("attendee %x: %w", k, err)
			}
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hqstore: attendees of %s: %w", event, err)
	}
	return out, nil
}

// An Operator is an HQ account that may sign in to the dashboard.
type Operator struct {
	ID      string    `json:"id"`
	Role    string    `json:"role"`
	Salt    []byte    `json:"salt"`
	Hash    []byte    `json:"hash"` // PBKDF2-SHA256 of the password
	Created time.Time `json:"created"`
}

var bOperators = []byte("operators")

// PutOperator creates or replaces an operator account.
func (s *Store) PutOperator(o Operator) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bOperators)
		if err != nil {
			return err
		}
		return putJSON(b, []byte(o.ID), o)
	})
	if err != nil {
		return fmt.Errorf("hqstore: put operator: %w", err)
	}
	return nil
}

// Operator returns an operator account, and whether there is one.
func (s *Store) Operator(id string) (Operator, bool, error) {
	var o Operator
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bOperators)
		if b == nil {
			return nil
		}
		var err error
		ok, err = getJSON(b, []byte(id), &o)
		return err
	})
	if err != nil {
		return Operator{}, false, fmt.Errorf("hqstore: operator: %w", err)
	}
	return o, ok, nil
}
