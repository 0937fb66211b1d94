package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// What staff do at the kiosk besides admitting by hand (which goes through
// Admit with Presented.Staff set): resolve a fever hold, undo an admission,
// look holders up and see the latest decisions.
//
// Undoing an admission and resolving a hold are check-ins of their own, so
// that they travel to HQ through the outbox like any decision:
//
//   - an undo is verdict "rejected", reason "undo", with the undone
//     admission's nonce at the start of its note ("undo <nonce>: <why>");
//     the ticket's admission is dropped from its history so it may enter
//     again, and the counts lose one admission (the undo itself is no
//     rejection at the gate, so it is not counted as one);
//   - a confirmed hold is verdict "admitted", reason "staff-override", and a
//     refused one verdict "rejected", reason "fever", each with the hold's
//     nonce at the start of its note ("hold <nonce>: <why>").
//
// The bucket "resolved" maps the nonce of an undone admission or of a
// resolved hold to the nonce of the check-in that undid or resolved it, so
// neither happens twice.

// Reasons of the check-ins staff make besides the gate's own.
const (
	// ReasonUndo is the reason of the check-in that undoes an admission.
	ReasonUndo = "undo"
	// ReasonFever is the reason of a hold, and of its refusal by staff.
	ReasonFever = "fever"
	// ReasonOverride is the reason of an admission by staff.
	ReasonOverride = "staff-override"
)

// Errors of the staff actions.
var (
	// ErrNotFound: no check-in of this box has that nonce.
	ErrNotFound = errors.New("store: no such check-in at this box")
	// ErrResolved: the admission was undone, or the hold resolved, already.
	ErrResolved = errors.New("store: already undone or resolved")
	// ErrNotUndoable: the check-in is not an admission, not a hold, or too
	// old for what was asked.
	ErrNotUndoable = errors.New("store: not possible for this check-in")
)

var bResolved = []byte("resolved")

// Action is a staff action on an earlier check-in of this box.
type Action struct {
	Nonce string    // the check-in acted on
	Staff string    // who acts
	Note  string    // why, in the staff's words
	At    time.Time // when; the newest recorded time is used when later
	Gate  string    // the gate acting
}

// Undo undoes an admission made at this box no longer than window before
// a.At (the turnstile jammed and the person did not pass): it records the
// undo check-in, drops the admission from the ticket's history so the
// ticket may enter again, takes one admission off the counts and appends a
// decision entry to the audit log, in one transaction. It returns the
// undo check-in.
func (s *Store) Undo(a Action, window time.Duration) (CheckIn, error) {
	return s.act(a, ReasonUndo, func(tx *bolt.Tx, orig *CheckIn, at time.Time) (CheckIn, error) {
		if orig.Verdict != "admitted" {
			return CheckIn{}, fmt.Errorf("%w: check-in %s is %s, not an admission", ErrNotUndoable, a.Nonce, orig.Verdict)
		}
		if age := at.Sub(orig.At); age > window {
			return CheckIn{}, fmt.Errorf("%w: admitted %v ago, undo allowed within %v", ErrNotUndoable, age.Round(time.Second), window)
		}
		c := CheckIn{Event: orig.Event, Ticket: orig.Ticket, Verdict: "rejected", Reason: ReasonUndo,
			Input: orig.Input, Note: "undo " + orig.Nonce + ": " + a.Note}
		ev := eventBucket(tx, orig.Event)
		if ev != nil && orig.Ticket != "" {
			if err := dropUse(ev, orig.Ticket, orig.Nonce); err != nil {
				return CheckIn{}, err
			}
		}
		return c, nil
	})
}

// ResolveHold confirms (admit true: admitted, staff-override) or refuses
// (rejected, fever) a fever hold made at this box, recording the staff's
// decision as a check-in with its audit entry in one transaction. A
// ticket admitted since the hold cannot have it confirmed.
func (s *Store) ResolveHold(a Action, admit bool) (CheckIn, error) {
	reason := ReasonFever
	if admit {
		reason = ReasonOverride
	}
	return s.act(a, reason, func(tx *bolt.Tx, orig *CheckIn, at time.Time) (CheckIn, error) {
		if orig.Verdict != "held" {
			return CheckIn{}, fmt.Errorf("%w: check-in %s is %s, not a hold", ErrNotUndoable, a.Nonce, orig.Verdict)
		}
		c := CheckIn{Event: orig.Event, Ticket: orig.Ticket, Verdict: "rejected", Reason: ReasonFever,
			Input: orig.Input, Note: "hold " + orig.Nonce + ": " + a.Note}
		if !admit {
			return c, nil
		}
		c.Verdict, c.Reason = "admitted", ReasonOverride
		if ev := eventBucket(tx, orig.Event); ev != nil && orig.Ticket != "" {
			uses, err := getJSON[[]Use](ev.Bucket(bUses), []byte(orig.Ticket))
			if err != nil {
				return CheckIn{}, err
			}
			if uses != nil {
				for _, u := range *uses {
					if u.At.After(orig.At) {
						return CheckIn{}, fmt.Errorf("%w: ticket admitted at %s since the hold", ErrNotUndoable, u.Gate)
					}
				}
			}
		}
		return c, nil
	})
}

// act runs a staff action on the check-in a.Nonce: do checks it and
// returns the new check-in, which act records with its audit entry and
// marks the original resolved.
func (s *Store) act(a Action, kind string, do func(*bolt.Tx, *CheckIn, time.Time) (CheckIn, error)) (CheckIn, error) {
	var out CheckIn
	err := s.db.Update(func(tx *bolt.Tx) error {
		key := nonceKey(a.Nonce)
		if key == nil {
			return fmt.Errorf("%w: %q", ErrNotFound, a.Nonce)
		}
		orig, err := getJSON[CheckIn](tx.Bucket(bCheckins), key)
		if err != nil {
			return err
		}
		if orig == nil || orig.Nonce != a.Nonce {
			return fmt.Errorf("%w: %q", ErrNotFound, a.Nonce)
		}
		res, err := tx.CreateBucketIfNotExists(bResolved)
		if err != nil {
			return err
		}
		if by := res.Get([]byte(a.Nonce)); by != nil {
			return fmt.Errorf("%w: by check-in %s", ErrResolved, by)
		}
		at := a.At.UTC()
		if newest := getTime(tx.Bucket(bMeta), kNewest); at.Before(newest) {
			at = newest
		}
		c, err := do(tx, orig, at)
		if err != nil {
			return err
		}
		c.Box, c.Gate, c.Boot, c.At, c.Staff = s.id.Box, a.Gate, s.boot, at, a.Staff
		ev := eventBucket(tx, c.Event)
		if err := s.record(tx, &c, ev); err != nil {
			return err
		}
		if kind == ReasonUndo {
			// The undo is no decision at the gate: it takes the admission
			// back rather than adding a rejection.
			if err := addCount(tx, ev, "rejected", -1); err != nil {
				return err
			}
			if err := addCount(tx, ev, "admitted", -1); err != nil {
				return err
			}
		}
		if err := res.Put([]byte(a.Nonce), []byte(c.Nonce)); err != nil {
			return err
		}
		out = c
		return appendAudit(tx, Entry{At: at, Kind: "decision", Actor: a.Staff, Subject: c.Nonce,
			Verdict: c.Verdict, Reason: c.Reason, Detail: c.Note})
	})
	if err != nil {
		return CheckIn{}, fmt.Errorf("store: %s %s: %w", kind, a.Nonce, err)
	}
	return out, nil
}

// dropUse removes the admission with nonce from a ticket's history.
func dropUse(ev *bolt.Bucket, ticket, nonce string) error {
	uses, err := getJSON[[]Use](ev.Bucket(bUses), []byte(ticket))
	if err != nil || uses == nil {
		return err
	}
	list := slices.DeleteFunc(*uses, func(u Use) bool { return u.Nonce == nonce })
	if len(list) == 0 {
		return ev.Bucket(bUses).Delete([]byte(ticket))
	}
	return putJSON(ev.Bucket(bUses), []byte(ticket), list)
}

// addCount adds delta to a verdict's count, never below zero.
func addCount(tx *bolt.Tx, ev *bolt.Bucket, verdict string, delta int) error {
	b, key := tx.Bucket(bMeta), []byte("count/"+verdict)
	if ev != nil {
		b, key = ev.Bucket(bCounts), []byte(verdict)
	}
	n := int64(getU64(b, key)) + int64(delta)
	return b.Put(key, u64(uint64(max(n, 0))))
}

// TicketState is a cached ticket as staff see it: masked holder data, its
// admissions at any gate of the venue and whether it is revoked. The
// sealed holder data is left out.
type TicketState struct {
	Event      string
	Ticket     Ticket
	Revoked    bool
	Admissions []Use
}

// FindTickets returns up to limit tickets of the box's events for which
// match is true, in event and ticket id order, and whether more matched.
// Only entries whose stored form contains hint are decoded and matched (nil
// decodes every entry): a search over the masked forms, so a hint is a
// fragment of what is stored masked, never a holder's clear data.
func (s *Store) FindTickets(hint []byte, match func(*Ticket) bool, limit int) ([]TicketState, bool, error) {
	var out []TicketState
	more := false
	err := s.db.View(func(tx *bolt.Tx) error {
		return eachEvent(tx, func(e *Event, ev *bolt.Bucket) (bool, error) {
			tickets := ev.Bucket(bTickets)
			if tickets == nil {
				return false, nil
			}
			c := tickets.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if hint != nil && !bytes.Contains(v, hint) {
					continue
				}
				var t Ticket
				if err := json.Unmarshal(v, &t); err != nil {
					return false, fmt.Errorf("store: ticket %q: %w", k, err)
				}
				if !match(&t) {
					continue
				}
				if len(out) == limit {
					more = true
					return true, nil
				}
				st, err := ticketState(ev, e.ID, t)
				if err != nil {
					return false, err
				}
				out = append(out, st)
			}
			return false, nil
		})
	})
	return out, more, err
}

// Ticket returns a cached ticket of an event, or ok false.
func (s *Store) Ticket(event, id string) (TicketState, bool, error) {
	var st TicketState
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		ev := eventBucket(tx, event)
		if ev == nil {
			return nil
		}
		t, err := getJSON[Ticket](ev.Bucket(bTickets), []byte(id))
		if err != nil || t == nil {
			return err
		}
		found = true
		st, err = ticketState(ev, event, *t)
		return err
	})
	return st, found, err
}

func ticketState(ev *bolt.Bucket, event string, t Ticket) (TicketState, error) {
	t.Holder = nil
	st := TicketState{Event: event, Ticket: t}
	if r := ev.Bucket(bRevoked); r != nil {
		st.Revoked = r.Get([]byte(t.ID)) != nil
	}
	uses, err := getJSON[[]Use](ev.Bucket(bUses), []byte(t.ID))
	if uses != nil {
		st.Admissions = *uses
	}
	return st, err
}

// Decision is a check-in of this box with what staff see beside it: the
// ticket's masked holder data and, when the check-in was undone or a hold
// resolved, the nonce of the check-in that did it.
type Decision struct {
	CheckIn
	Name, Phone, MemberLevel, Class string
	ResolvedBy                      string
}

// Recent returns up to limit of the box's newest check-ins, newest first,
// with their tickets' masked holder data. With since set, it stops at the
// first check-in older than since, and keep (when not nil) chooses which
// check-ins count towards limit.
func (s *Store) Recent(limit int, since time.Time, keep func(*Decision) bool) ([]Decision, error) {
	var out []Decision
	err := s.db.View(func(tx *bolt.Tx) error {
		res := tx.Bucket(bResolved)
		c := tx.Bucket(bCheckins).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var d Decision
			if err := json.Unmarshal(v, &d.CheckIn); err != nil {
				return fmt.Errorf("store: check-in %x: %w", k, err)
			}
			if !since.IsZero() && d.At.Before(since) {
				break
			}
			if res != nil {
				d.ResolvedBy = string(res.Get([]byte(d.Nonce)))
			}
			if ev := eventBucket(tx, d.Event); ev != nil && d.Ticket != "" {
				t, err := getJSON[Ticket](ev.Bucket(bTickets), []byte(d.Ticket))
				if err != nil {
					return err
				}
				if t != nil {
					d.Name, d.Phone, d.MemberLevel, d.Class = t.NameMasked, t.PhoneMasked, t.MemberLevel, t.Class
				}
			}
			if keep == nil || keep(&d) {
				out = append(out, d)
			}
		}
		return nil
	})
	return out, err
}

// ManifestTimes returns when the newest manifest of each event was applied,
// from the audit log's manifest entries, looking back over at most scan
// entries.
func (s *Store) ManifestTimes(scan int) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	marker := []byte(`"kind":"manifest"`)
	err := s.db.View(func(tx *bolt.Tx) error {
		want := map[string]bool{}
		if err := eachEvent(tx, func(e *Event, _ *bolt.Bucket) (bool, error) {
			want[e.ID] = true
			return false, nil
		}); err != nil {
			return err
		}
		c := tx.Bucket(bAudit).Cursor()
		n := 0
		for k, v := c.Last(); k != nil && n < scan && len(out) < len(want); k, v = c.Prev() {
			n++
			if !bytes.Contains(v, marker) {
				continue
			}
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("store: audit entry %x: %w", k, err)
			}
			if _, had := out[e.Subject]; want[e.Subject] && !had {
				out[e.Subject] = e.At
			}
		}
		return nil
	})
	return out, err
}

// StaffNote splits the note of a check-in staff made: of is the nonce of
// the admission an undo undoes or of the hold a resolution resolves ("" for
// any other check-in), note the staff's own words.
func StaffNote(c CheckIn) (of, note string) {
	prefix := ""
	switch {
	case c.Staff == "":
		return "", c.Note
	case c.Reason == ReasonUndo:
		prefix = "undo "
	case c.Reason == ReasonFever || c.Reason == ReasonOverride:
		prefix = "hold "
	}
	if rest, ok := strings.CutPrefix(c.Note, prefix); ok && prefix != "" {
		if nonce, words, ok := strings.Cut(rest, ": "); ok && nonceKey(nonce) != nil {
			return nonce, words
		}
	}
	return "", c.Note
}
