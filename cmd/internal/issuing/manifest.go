package issuing

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"maps"
	"slices"
	"time"

	"venuebox/cmd/internal/manifest"
	"venuebox/cmd/internal/ticket"
)

// A Ticket is one issued ticket as an event's manifest lists it.
type Ticket struct {
	ID      string
	Code    string // the signed code: it seals the holder, and only its hash is listed
	Holder  Attendee
	Zone    string
	Benefit string
	Revoked bool
	// From and Until are the validity window as the code carries it.
	From, Until time.Time
}

// A Snapshot is an event's whole ticket list, to sign as a manifest.
type Snapshot struct {
	// Event is the header; when it names no classes, the classes the
	// tickets use are listed (without benefits).
	Event    manifest.Event
	Version  uint64 // 1 or more
	IssuedAt time.Time
	// CardKey keys the card UID hashes; nil makes a new random one. An
	// event keeps one key across versions, so its hashes stay the same.
	CardKey []byte
	Tickets []Ticket
}

// Sign builds the snapshot's manifest, with holders sealed under their
// codes (card holders under their UIDs), names and phones masked, codes
// hashed, and signs it with priv. Its errors come from the input.
func (s *Snapshot) Sign(priv ed25519.PrivateKey) ([]byte, error) {
	m := &manifest.Manifest{
		Format:   manifest.Format,
		Event:    s.Event,
		Kind:     manifest.KindSnapshot,
		Version:  s.Version,
		IssuedAt: s.IssuedAt.UTC().Truncate(time.Second),
		CardKey:  s.CardKey,
		Tickets:  make([]manifest.Ticket, 0, len(s.Tickets)),
	}
	if m.CardKey == nil {
		m.CardKey = make([]byte, manifest.CardKeySize)
		if _, err := rand.Read(m.CardKey); err != nil {
			return nil, fmt.Errorf("card key: %w", err)
		}
	}
	classes := make(map[string]bool)
	for i := range s.Tickets {
		t := &s.Tickets[i]
		a := &t.Holder
		where := fmt.Sprintf("ticket %s", t.ID)
		if a.Line > 0 {
			where += fmt.Sprintf(" (line %d)", a.Line)
		}
		h := ticket.Holder{Name: a.Name, Phone: a.Phone}
		sealed, err := ticket.Seal(t.Code, h)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		m.Tickets = append(m.Tickets, manifest.Ticket{
			ID: t.ID, CodeHash: ticket.CodeHash(t.Code), Class: a.Class, Zone: t.Zone, MemberLevel: a.MemberLevel,
			Benefit: t.Benefit, NameMasked: ticket.MaskName(a.Name), PhoneMasked: ticket.MaskPhone(a.Phone), Holder: sealed,
			From: t.From, Until: t.Until,
		})
		if t.Revoked {
			m.Revoked = append(m.Revoked, t.ID)
		}
		if a.Class != "" {
			classes[a.Class] = true
		}
		if a.CardUID != "" {
			sealed, err := ticket.Seal(a.CardUID, h)
			if err != nil {
				return nil, fmt.Errorf("%s: card: %w", where, err)
			}
			m.Cards = append(m.Cards, manifest.Card{UIDHash: ticket.CardHash(m.CardKey, a.CardUID), Ticket: t.ID, Holder: sealed})
		}
	}
	if len(m.Event.Classes) == 0 {
		for _, c := range slices.Sorted(maps.Keys(classes)) {
			m.Event.Classes = append(m.Event.Classes, manifest.Class{Name: c})
		}
	}
	return manifest.Sign(priv, m)
}
