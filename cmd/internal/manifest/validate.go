package manifest

import (
	"fmt"
	"slices"
	"unicode/utf8"

	"venuebox/cmd/internal/ticket"
)

// Limits that Validate enforces on fields.
const (
	// CardKeySize is the size of the card HMAC key.
	CardKeySize = 32
	// MaxField caps ids, names and other short text fields, in bytes.
	MaxField = 256
)

// Validate checks a manifest's structure: format, kind and versions, unique
// non-empty ids, well-formed hashes, known classes and zones, and cards that
// point at tickets (in a snapshot, at tickets of the snapshot).
func (m *Manifest) Validate() error {
	if m.Format != Format {
		return fmt.Errorf("format %d, want %d", m.Format, Format)
	}
	if err := text("event id", m.Event.ID, true); err != nil {
		return err
	}
	for name, s := range map[string]string{"event name": m.Event.Name, "venue": m.Event.Venue} {
		if err := text(name, s, false); err != nil {
			return err
		}
	}
	if !m.Event.Start.IsZero() && !m.Event.End.IsZero() && m.Event.End.Before(m.Event.Start) {
		return fmt.Errorf("event ends before it starts")
	}
	if m.Version < 1 {
		return fmt.Errorf("version %d, want 1 or more", m.Version)
	}
	switch m.Kind {
	case KindSnapshot:
		if m.Base != 0 || len(m.Removed) != 0 {
			return fmt.Errorf("snapshot with a base or removals")
		}
	case KindDelta:
		if m.Base < 1 || m.Base >= m.Version {
			return fmt.Errorf("delta version %d on base %d", m.Version, m.Base)
		}
	default:
		return fmt.Errorf("kind %q, want %q or %q", m.Kind, KindSnapshot, KindDelta)
	}
	if len(m.CardKey) != 0 && len(m.CardKey) != CardKeySize {
		return fmt.Errorf("card key of %d bytes, want %d", len(m.CardKey), CardKeySize)
	}
	zones := make(map[string]bool, len(m.Event.Zones))
	for _, z := range m.Event.Zones {
		if err := text("zone", z, true); err != nil {
			return err
		}
		if zones[z] {
			return fmt.Errorf("zone %q listed twice", z)
		}
		zones[z] = true
	}
	classes := make(map[string]bool, len(m.Event.Classes))
	for _, c := range m.Event.Classes {
		if err := text("class", c.Name, true); err != nil {
			return err
		}
		if err := text("benefit", c.Benefit, false); err != nil {
			return err
		}
		if classes[c.Name] {
			return fmt.Errorf("class %q listed twice", c.Name)
		}
		classes[c.Name] = true
	}
	ids := make(map[string]bool, len(m.Tickets))
	hashes := make(map[string]bool, len(m.Tickets))
	for i := range m.Tickets {
		t := &m.Tickets[i]
		if err := t.validate(zones, classes); err != nil {
			return fmt.Errorf("ticket %d: %w", i, err)
		}
		if ids[t.ID] {
			return fmt.Errorf("ticket id %q listed twice", t.ID)
		}
		if hashes[t.CodeHash] {
			return fmt.Errorf("ticket %q: code hash listed twice", t.ID)
		}
		ids[t.ID], hashes[t.CodeHash] = true, true
	}
	if len(m.Cards) > 0 && len(m.CardKey) == 0 {
		return fmt.Errorf("cards without a card key")
	}
	cards := make(map[string]bool, len(m.Cards))
	for i, c := range m.Cards {
		if !isHex64(c.UIDHash) {
			return fmt.Errorf("card %d: uid hash is not 64 lower-case hex digits", i)
		}
		if cards[c.UIDHash] {
			return fmt.Errorf("card %d: uid hash listed twice", i)
		}
		cards[c.UIDHash] = true
		if err := text("card ticket", c.Ticket, true); err != nil {
			return fmt.Errorf("card %d: %w", i, err)
		}
		if m.Kind == KindSnapshot && !ids[c.Ticket] {
			return fmt.Errorf("card %d: ticket %q not in the snapshot", i, c.Ticket)
		}
		if len(c.Holder) > ticket.MaxSealed {
			return fmt.Errorf("card %d: holder data too large", i)
		}
	}
	for name, list := range map[string][]string{"revoked": m.Revoked, "removed": m.Removed} {
		seen := make(map[string]bool, len(list))
		for _, id := range list {
			if err := text(name+" id", id, true); err != nil {
				return err
			}
			if seen[id] {
				return fmt.Errorf("%s id %q listed twice", name, id)
			}
			seen[id] = true
		}
	}
	for _, id := range m.Removed {
		if ids[id] {
			return fmt.Errorf("ticket %q both changed and removed", id)
		}
	}
	return nil
}

func (t *Ticket) validate(zones, classes map[string]bool) error {
	if err := text("id", t.ID, true); err != nil {
		return err
	}
	if !isHex64(t.CodeHash) {
		return fmt.Errorf("%q: code hash is not 64 lower-case hex digits", t.ID)
	}
	for name, s := range map[string]string{
		"class": t.Class, "zone": t.Zone, "member level": t.MemberLevel, "benefit": t.Benefit,
		"masked name": t.NameMasked, "masked phone": t.PhoneMasked,
	} {
		if err := text(name, s, false); err != nil {
			return fmt.Errorf("%q: %w", t.ID, err)
		}
	}
	if t.Zone != "" && !zones[t.Zone] {
		return fmt.Errorf("%q: zone %q is not one of the event's zones", t.ID, t.Zone)
	}
	if t.Class != "" && len(classes) > 0 && !classes[t.Class] {
		return fmt.Errorf("%q: class %q is not one of the event's classes", t.ID, t.Class)
	}
	if len(t.Holder) > ticket.MaxSealed {
		return fmt.Errorf("%q: holder data too large", t.ID)
	}
	if !t.From.IsZero() && !t.Until.IsZero() && !t.Until.After(t.From) {
		return fmt.Errorf("%q: window ends before it starts", t.ID)
	}
	return nil
}

// text checks a short text field: valid UTF-8, no control characters, at
// most MaxField bytes, and present when required.
func text(name, s string, required bool) error {
	if required && s == "" {
		return fmt.Errorf("empty %s", name)
	}
	if len(s) > MaxField {
		return fmt.Errorf("%s longer than %d bytes", name, MaxField)
	}
	if !utf8.ValidString(s) || slices.ContainsFunc([]rune(s), func(r rune) bool { return r < 0x20 || r == 0x7F }) {
		return fmt.Errorf("%s has invalid characters", name)
	}
	return nil
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
