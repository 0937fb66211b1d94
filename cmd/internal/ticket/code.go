package ticket

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Prefix starts every signed code.
const Prefix = "VB1"

// MaxLen is the longest code, prefix included, that Sign produces and Verify
// reads.
const MaxLen = 120

// Version is the format version in the high nibble of the first byte.
const Version = 1

const (
	flagWindow = 1 << 0
	flagZone   = 1 << 1
	flagsKnown = flagWindow | flagZone

	headerLen = 1 + 2 + 3
	// maxMinutes bounds both window fields (about 100 years), so that
	// decoded times never overflow time.Duration.
	maxMinutes = 100 * 366 * 24 * 60
)

// Epoch is the origin of the validity window's minute counts.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Errors returned by Verify, wrapped with detail; test them with errors.Is.
var (
	// ErrNotSigned means the code does not carry the VB1 prefix: it may be a
	// plain code for the manifest lookup, but it is no signed ticket.
	ErrNotSigned = errors.New("ticket: not a signed code")
	// ErrMalformed means the code has the prefix but cannot be a code of
	// this format (length, alphabet, structure).
	ErrMalformed = errors.New("ticket: malformed code")
	// ErrUnknownKey means no trusted key has the code's key id.
	ErrUnknownKey = errors.New("ticket: unknown signing key")
	// ErrBadSignature means no trusted key with the code's key id verifies it.
	ErrBadSignature = errors.New("ticket: bad signature")
)

// KeyID names a signing key: the first two bytes of SHA-256 of the public key.
type KeyID [2]byte

// String returns the key id as 4 lower-case hex digits.
func (id KeyID) String() string { return hex.EncodeToString(id[:]) }

// ParseKeyID reads the 4 hex digits that KeyID.String writes.
func ParseKeyID(s string) (KeyID, error) {
	var id KeyID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("ticket: parse key id %q: want %d hex digits", s, 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("ticket: parse key id %q: %w", s, err)
	}
	return id, nil
}

// KeyIDOf returns the key id of a public key.
func KeyIDOf(pub ed25519.PublicKey) KeyID {
	sum := sha256.Sum256(pub)
	return KeyID{sum[0], sum[1]}
}

// EventTag returns the 3-byte tag a code carries for an event id.
func EventTag(event string) [3]byte {
	sum := sha256.Sum256([]byte(event))
	return [3]byte{sum[0], sum[1], sum[2]}
}

// ZoneTag returns the 1-byte tag a code carries for a zone name.
func ZoneTag(zone string) byte {
	sum := sha256.Sum256([]byte(zone))
	return sum[0]
}

// Claims is what an issuer puts into a code.
type Claims struct {
	Event  string // event id; only its tag goes into the code
	Number uint64 // ticket number within the event, 1 or more
	Zone   string // "" for a ticket valid at every gate
	// From and Until bound the validity window; both zero means none.
	// From is rounded down and Until up to the whole minute.
	From, Until time.Time
}

// Parsed is what a verified code says.
type Parsed struct {
	Key     KeyID
	Event   [3]byte // EventTag of the event id
	Number  uint64
	HasZone bool
	Zone    byte // ZoneTag of the zone, when HasZone
	// From and Until are the validity window in UTC; both zero means none.
	From, Until time.Time
}

// TicketID returns the ticket id: the number in decimal.
func (p Parsed) TicketID() string { return strconv.FormatUint(p.Number, 10) }

// HasWindow reports whether the code carries a validity window.
func (p Parsed) HasWindow() bool { return !p.From.IsZero() }

// ForEvent reports whether the code was issued for the event id.
func (p Parsed) ForEvent(event string) bool { return p.Event == EventTag(event) }

// ValidIn reports whether the code admits at a gate of the zone: always when
// the code has no zone, otherwise when the zone's tag matches.
func (p Parsed) ValidIn(zone string) bool { return !p.HasZone || p.Zone == ZoneTag(zone) }

// appendPayload appends the signed bytes before the signature.
func (p Parsed) appendPayload(b []byte) []byte {
	flags := byte(0)
	if p.HasWindow() {
		flags |= flagWindow
	}
	if p.HasZone {
		flags |= flagZone
	}
	b = append(b, Version<<4|flags, p.Key[0], p.Key[1], p.Event[0], p.Event[1], p.Event[2])
	b = binary.AppendUvarint(b, p.Number)
	if p.HasZone {
		b = append(b, p.Zone)
	}
	if p.HasWindow() {
		from := uint64(p.From.Sub(Epoch) / time.Minute)
		b = binary.AppendUvarint(b, from)
		b = binary.AppendUvarint(b, uint64(p.Until.Sub(p.From)/time.Minute))
	}
	return b
}

// Sign returns the code for c signed with priv. It fails when the claims are
// incomplete or the code would be longer than MaxLen.
func Sign(priv ed25519.PrivateKey, c Claims) (string, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return "", errors.New("ticket: sign: private key has the wrong size")
	}
	if c.Event == "" {
		return "", errors.New("ticket: sign: empty event id")
	}
	if c.Number == 0 {
		return "", errors.New("ticket: sign: ticket number 0")
	}
	p := Parsed{
		Key:    KeyIDOf(priv.Public().(ed25519.PublicKey)),
		Event:  EventTag(c.Event),
		Number: c.Number,
	}
	if c.Zone != "" {
		p.HasZone, p.Zone = true, ZoneTag(c.Zone)
	}
	if !c.From.IsZero() || !c.Until.IsZero() {
		if c.From.IsZero() || c.Until.IsZero() {
			return "", errors.New("ticket: sign: a window needs both from and until")
		}
		from := c.From.UTC().Truncate(time.Minute)
		until := c.Until.UTC()
		if t := until.Truncate(time.Minute); !t.Equal(until) {
			until = t.Add(time.Minute)
		}
		if from.Before(Epoch) {
			return "", fmt.Errorf("ticket: sign: window starts before %s", Epoch.Format(time.RFC3339))
		}
		if !until.After(from) {
			return "", errors.New("ticket: sign: window ends before it starts")
		}
		if from.Sub(Epoch)/time.Minute >= maxMinutes || until.Sub(from)/time.Minute >= maxMinutes {
			return "", errors.New("ticket: sign: window too far in the future")
		}
		p.From, p.Until = from, until
	}
	msg := p.appendPayload([]byte(Prefix))
	sig := ed25519.Sign(priv, msg)
	raw := append(msg[len(Prefix):], sig...)
	if n := len(Prefix) + base45Len(len(raw)); n > MaxLen {
		return "", fmt.Errorf("ticket: sign: code would be %d characters, more than %d", n, MaxLen)
	}
	return Prefix + encodeBase45(raw), nil
}

// IsSigned reports whether code carries the signed-code prefix.
func IsSigned(code string) bool { return strings.HasPrefix(code, Prefix) }

// Keyring holds the trusted public keys, several at once so that keys can be
// rotated. It is immutable and safe for concurrent use.
type Keyring struct {
	byID map[KeyID][]ed25519.PublicKey
	n    int
}

// NewKeyring returns a keyring trusting pubs. Keys of the wrong size could
// never verify anything and are left out; Len tells how many were kept.
func NewKeyring(pubs ...ed25519.PublicKey) *Keyring {
	k := &Keyring{byID: make(map[KeyID][]ed25519.PublicKey)}
	for _, pub := range pubs {
		if len(pub) != ed25519.PublicKeySize {
			continue
		}
		id := KeyIDOf(pub)
		dup := false
		for _, have := range k.byID[id] {
			dup = dup || have.Equal(pub)
		}
		if !dup {
			k.byID[id] = append(k.byID[id], append(ed25519.PublicKey(nil), pub...))
			k.n++
		}
	}
	return k
}

// Len returns the number of distinct trusted keys.
func (k *Keyring) Len() int {
	if k == nil {
		return 0
	}
	return k.n
}

// Keys returns the trusted keys with the given id (usually one, more only
// when two ids collide). The slice is the caller's.
func (k *Keyring) Keys(id KeyID) []ed25519.PublicKey {
	if k == nil {
		return nil
	}
	return append([]ed25519.PublicKey(nil), k.byID[id]...)
}

// Verify checks the code's signature against the trusted keys with the
// code's key id and only then decodes its fields. Errors wrap ErrNotSigned,
// ErrMalformed, ErrUnknownKey or ErrBadSignature.
func (k *Keyring) Verify(code string) (Parsed, error) {
	if !IsSigned(code) {
		return Parsed{}, ErrNotSigned
	}
	if len(code) > MaxLen {
		return Parsed{}, fmt.Errorf("%w: longer than %d characters", ErrMalformed, MaxLen)
	}
	raw, err := decodeBase45(code[len(Prefix):])
	if err != nil {
		return Parsed{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if len(raw) < headerLen+1+ed25519.SignatureSize {
		return Parsed{}, fmt.Errorf("%w: too short", ErrMalformed)
	}
	if raw[0]>>4 != Version {
		return Parsed{}, fmt.Errorf("%w: format version %d", ErrMalformed, raw[0]>>4)
	}
	id := KeyID{raw[1], raw[2]}
	var keys []ed25519.PublicKey
	if k != nil {
		keys = k.byID[id]
	}
	if len(keys) == 0 {
		return Parsed{}, fmt.Errorf("%w: key id %s", ErrUnknownKey, id)
	}
	payload, sig := raw[:len(raw)-ed25519.SignatureSize], raw[len(raw)-ed25519.SignatureSize:]
	msg := append([]byte(Prefix), payload...)
	ok := false
	for _, pub := range keys {
		if ed25519.Verify(pub, msg, sig) {
			ok = true
			break
		}
	}
	if !ok {
		return Parsed{}, fmt.Errorf("%w: key id %s", ErrBadSignature, id)
	}
	p, err := parsePayload(payload)
	if err != nil {
		return Parsed{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return p, nil
}

// parsePayload decodes signed bytes, accepting only canonical encodings.
func parsePayload(b []byte) (Parsed, error) {
	var p Parsed
	flags := b[0] & 0x0F
	if flags&^flagsKnown != 0 {
		return p, fmt.Errorf("unknown flags %#x", flags)
	}
	p.Key = KeyID{b[1], b[2]}
	p.Event = [3]byte{b[3], b[4], b[5]}
	b = b[headerLen:]
	var err error
	if p.Number, b, err = uvarint(b); err != nil {
		return p, fmt.Errorf("ticket number: %w", err)
	}
	if p.Number == 0 {
		return p, errors.New("ticket number 0")
	}
	if flags&flagZone != 0 {
		if len(b) < 1 {
			return p, errors.New("zone: truncated")
		}
		p.HasZone, p.Zone = true, b[0]
		b = b[1:]
	}
	if flags&flagWindow != 0 {
		var from, span uint64
		if from, b, err = uvarint(b); err != nil {
			return p, fmt.Errorf("valid-from: %w", err)
		}
		if span, b, err = uvarint(b); err != nil {
			return p, fmt.Errorf("window: %w", err)
		}
		if from >= maxMinutes || span >= maxMinutes || span == 0 {
			return p, errors.New("window out of range")
		}
		p.From = Epoch.Add(time.Duration(from) * time.Minute)
		p.Until = p.From.Add(time.Duration(span) * time.Minute)
	}
	if len(b) != 0 {
		return p, fmt.Errorf("%d trailing bytes", len(b))
	}
	return p, nil
}

// uvarint reads one canonical (shortest-form) uvarint.
func uvarint(b []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, b, errors.New("bad varint")
	}
	if n != len(binary.AppendUvarint(nil, v)) {
		return 0, b, errors.New("varint not in shortest form")
	}
	return v, b[n:], nil
}
