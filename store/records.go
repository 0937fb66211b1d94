package store

import (
	"time"
)

// Identity names the box.
type Identity struct {
	Org   string `json:"org"`
	Venue string `json:"venue"`
	Box   string `json:"box"`
}

// Event is an event the box serves, as its last applied manifest says.
type Event struct {
	ID      string    `json:"id"`
	Name    string    `json:"name,omitempty"`
	Venue   string    `json:"venue,omitempty"`
	Start   time.Time `json:"start,omitzero"`
	End     time.Time `json:"end,omitzero"`
	Zones   []string  `json:"zones,omitempty"`
	Reentry bool      `json:"reentry,omitempty"`
	// Version is the manifest version applied.
	Version uint64 `json:"version"`
	// CardKey is the HMAC key of the event's card UID hashes.
	CardKey []byte `json:"card_key,omitempty"`
	// Tickets counts the tickets in the cache.
	Tickets int `json:"tickets"`
}

// Ticket is one cached ticket. Holder is sealed; the masked fields are safe
// to show.
type Ticket struct {
	ID          string    `json:"id"`
	CodeHash    string    `json:"code_hash"`
	Class       string    `json:"class,omitempty"`
	Zone        string    `json:"zone,omitempty"`
	MemberLevel string    `json:"member_level,omitempty"`
	Benefit     string    `json:"benefit,omitempty"`
	NameMasked  string    `json:"name_masked,omitempty"`
	PhoneMasked string    `json:"phone_masked,omitempty"`
	Holder      []byte    `json:"holder,omitempty"`
	From        time.Time `json:"from,omitzero"`
	Until       time.Time `json:"until,omitzero"`
}

// Card is a member card linked to a ticket.
type Card struct {
	UIDHash string `json:"uid_hash"`
	Ticket  string `json:"ticket"`
	Holder  []byte `json:"holder,omitempty"`
}

// Manifest is a ticket cache update for one event: a snapshot replaces the
// event's cache, a delta on top of version Base adds or changes Tickets and
// Cards, drops Removed and revokes Revoked.
type Manifest struct {
	Event    Event
	Snapshot bool
	Version  uint64
	Base     uint64
	Tickets  []Ticket
	Cards    []Card
	Revoked  []string
	Removed  []string
}

// Use is one earlier decision on a ticket or an input.
type Use struct {
	At      time.Time     `json:"at"`
	Gate    string        `json:"gate"`
	Verdict string        `json:"verdict"`
	Reason  string        `json:"reason"`
	Boot    uint64        `json:"boot,omitempty"`
	Mono    time.Duration `json:"mono,omitempty"`
	Nonce   string        `json:"nonce,omitempty"`
}

// CheckIn is one recorded decision.
type CheckIn struct {
	Nonce   string    `json:"nonce"`
	Box     string    `json:"box"`
	Gate    string    `json:"gate,omitempty"`
	Boot    uint64    `json:"boot"`
	Seq     uint64    `json:"seq"`
	Event   string    `json:"event,omitempty"`
	Ticket  string    `json:"ticket,omitempty"`
	Verdict string    `json:"verdict"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
	TempC   *float64  `json:"temp_c,omitempty"`
	// Input is a short hash of the raw input, never the input.
	Input string `json:"input,omitempty"`
	Staff string `json:"staff,omitempty"`
	Note  string `json:"note,omitempty"`
}

// Counts are decisions per verdict.
type Counts struct {
	Admitted int `json:"admitted"`
	Rejected int `json:"rejected"`
	Held     int `json:"held"`
}
