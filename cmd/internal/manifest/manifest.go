// Package manifest is the box's ticket cache for one event as a signed file:
// what `venuebox issue` writes to manifest.json and what HQ pushes to boxes.
//
// A manifest travels as a JSON envelope
//
//	{"key_id":"ab12","body":{...},"sig":"<base64 Ed25519 over the body bytes>"}
//
// signed by the same Ed25519 keys as the tickets, so a box trusts a manifest
// exactly when it trusts the tickets in it. The signature covers the exact
// bytes of "body" as they appear in the file; Parse verifies it before it
// decodes the body, then validates the result.
//
// A snapshot lists every ticket of the event; a delta, applied on top of
// version Base, lists the tickets added or changed, the ids removed and the
// ids revoked. Versions increase per event. The manifest holds no code, name,
// phone or card UID in clear: codes appear as ticket.CodeHash, card UIDs as
// ticket.CardHash under the manifest's card key, holders sealed under the
// code or UID (ticket.Seal) and masked for display.
package manifest

import (
	"time"
)

// Format is the body format this package writes and reads.
const Format = 1

// Kinds of manifest.
const (
	KindSnapshot = "snapshot"
	KindDelta    = "delta"
)

// Manifest is the body of a signed manifest.
type Manifest struct {
	Format   int       `json:"format"` // Format
	Event    Event     `json:"event"`
	Kind     string    `json:"kind"`           // KindSnapshot or KindDelta
	Version  uint64    `json:"version"`        // >= 1, increases per event
	Base     uint64    `json:"base,omitempty"` // delta only: the version it applies on top of
	IssuedAt time.Time `json:"issued_at"`
	// CardKey is the HMAC key of the card UID hashes (CardKeySize bytes).
	CardKey []byte   `json:"card_key,omitempty"`
	Tickets []Ticket `json:"tickets,omitempty"` // snapshot: all; delta: added or changed
	Cards   []Card   `json:"cards,omitempty"`
	Revoked []string `json:"revoked,omitempty"` // ticket ids
	Removed []string `json:"removed,omitempty"` // delta: ticket ids removed
}

// Event describes the event the manifest is for.
type Event struct {
	ID    string    `json:"id"`
	Name  string    `json:"name,omitempty"`
	Venue string    `json:"venue,omitempty"`
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	// Zones lists the event's zones; empty means the event has none.
	Zones []string `json:"zones,omitempty"`
	// Reentry allows a ticket back in after it was admitted once.
	Reentry bool    `json:"reentry,omitempty"`
	Classes []Class `json:"classes,omitempty"`
}

// Class is a ticket class and the benefit it carries (shown at the gate).
type Class struct {
	Name    string `json:"name"`
	Benefit string `json:"benefit,omitempty"`
}

// Ticket is one ticket as the box knows it.
type Ticket struct {
	ID          string `json:"id"`
	CodeHash    string `json:"code_hash"` // ticket.CodeHash of its code
	Class       string `json:"class,omitempty"`
	Zone        string `json:"zone,omitempty"`
	MemberLevel string `json:"member_level,omitempty"`
	Benefit     string `json:"benefit,omitempty"`
	NameMasked  string `json:"name_masked,omitempty"`
	PhoneMasked string `json:"phone_masked,omitempty"`
	// Holder is ticket.Seal(code, holder): readable only with the code.
	Holder []byte    `json:"holder"`
	From   time.Time `json:"from,omitzero"`
	Until  time.Time `json:"until,omitzero"`
}

// Card is a member card linked to a ticket.
type Card struct {
	UIDHash string `json:"uid_hash"` // ticket.CardHash(CardKey, uid)
	Ticket  string `json:"ticket"`   // ticket id
	// Holder is ticket.Seal(ticket.NormalizeUID(uid), holder).
	Holder []byte `json:"holder"`
}
