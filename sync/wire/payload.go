package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Version is the payload version this package writes and the only one it reads.
const Version = 1

// MaxMessage caps the size of any payload, sent or received (256 KiB).
const MaxMessage = 256 << 10

// MaxBatch caps the number of check-ins in one Batch.
const MaxBatch = 500

// MaxChunk is the largest manifest chunk's data, leaving room in MaxMessage
// for base64 and the envelope.
const MaxChunk = 160 << 10

// MaxChunks caps the chunks of one manifest (MaxChunks*MaxChunk = 640 MiB).
const MaxChunks = 4096

// maxText caps free-text fields (note, input, reason).
const maxText = 512

// Errors a receiver can test for with errors.Is.
var (
	// ErrVersion: the payload's "v" is not Version.
	ErrVersion = errors.New("wire: unknown payload version")
	// ErrTooLarge: the payload exceeds MaxMessage.
	ErrTooLarge = errors.New("wire: payload too large")
	// ErrInvalid: the payload is not well formed or fails validation.
	ErrInvalid = errors.New("wire: invalid payload")
)

// A CheckIn is one decision made at a gate, as it travels.
type CheckIn struct {
	Nonce   string    `json:"nonce"`
	Box     string    `json:"box"`
	Gate    string    `json:"gate,omitempty"`
	Boot    uint64    `json:"boot"`
	Seq     uint64    `json:"seq"`
	Event   string    `json:"event"`
	Ticket  string    `json:"ticket"`
	Verdict string    `json:"verdict"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
	TempC   *float64  `json:"temp_c,omitempty"`
	Input   string    `json:"input,omitempty"`
	Staff   string    `json:"staff,omitempty"`
	Note    string    `json:"note,omitempty"`
}

// A Batch carries check-ins from one box, oldest first. Historical marks
// backlog sent after an outage, as opposed to decisions made just now.
type Batch struct {
	V          int       `json:"v"`
	Box        string    `json:"box"`
	Historical bool      `json:"historical,omitempty"`
	Sent       time.Time `json:"sent"`
	CheckIns   []CheckIn `json:"checkins"`
}

// A Range is an inclusive run of sequence numbers within one boot.
type Range struct {
	Boot uint64 `json:"boot"`
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// An Ack is HQ's acknowledgement, sent only after HQ committed the
// check-ins. Nonces lists every check-in of the batch HQ now holds (new or
// already held). Missing lists the sequence numbers HQ has not seen below
// the highest it has; the box sends them again. Echo repeats the batch's
// Sent and HQTime is HQ's clock when it answered, so the box measures its
// clock offset.
type Ack struct {
	V       int       `json:"v"`
	Box     string    `json:"box"`
	Nonces  []string  `json:"nonces"`
	Missing []Range   `json:"missing,omitempty"`
	Echo    time.Time `json:"echo"`
	HQTime  time.Time `json:"hq_time"`
	// Audit, in the answer to an AuditBatch, is how far HQ holds and has
	// verified the box's audit chain: the box sends what follows.
	Audit *AuditMark `json:"audit,omitempty"`
}

// A State is a box's birth message (Online true, retained) or its last will
// (Online false). Session grows with each connection; HQ ignores a will
// older than the last birth.
type State struct {
	V         int               `json:"v"`
	Box       string            `json:"box"`
	Online    bool              `json:"online"`
	Session   uint64            `json:"session"`
	Software  string            `json:"software,omitempty"`
	Manifests map[string]uint64 `json:"manifests,omitempty"`
	Queued    int               `json:"queued"`
	OffsetMS  int64             `json:"clock_offset_ms"`
	At        time.Time         `json:"at"`
}

// A ManifestRequest asks HQ for what a box lacks of the events' manifests:
// Have maps each event to the version the box holds (0: none). Resume,
// when set, asks for the rest of a chunked manifest already begun. An empty
// Have asks for every event of the box's venue.
type ManifestRequest struct {
	V      int               `json:"v"`
	Box    string            `json:"box"`
	Have   map[string]uint64 `json:"have"`
	Resume *Resume           `json:"resume,omitempty"`
}

// Resume names a manifest and the first chunk the box still lacks.
type Resume struct {
	Event   string `json:"event"`
	Version uint64 `json:"version"`
	Next    int    `json:"next"`
}

// A ManifestChunk is one piece of a signed manifest. Base is 0 for a
// snapshot and the version a delta applies to otherwise. SHA256 is the
// digest of the whole manifest, so the reassembled bytes can be checked
// before they are handed on for signature verification.
type ManifestChunk struct {
	V       int    `json:"v"`
	Event   string `json:"event"`
	Version uint64 `json:"version"`
	Base    uint64 `json:"base"`
	Index   int    `json:"index"`
	Count   int    `json:"count"`
	Size    int    `json:"size"`
	SHA256  []byte `json:"sha256"`
	Data    []byte `json:"data"`
}

// A Revocation is HQ's fast path for revoked tickets; the next manifest
// carries the same change durably. It is a command, so HQ signs it (Key
// names the key, Sig signs SignedBytes) and it expires: a box refuses one
// that does not verify or arrives after Expires.
type Revocation struct {
	V       int       `json:"v"`
	Event   string    `json:"event"`
	Tickets []string  `json:"tickets"`
	At      time.Time `json:"at"`
	Expires time.Time `json:"expires"`
	Key     string    `json:"key"`
	Sig     []byte    `json:"sig,omitempty"`
}

// revocationDomain separates revocation signatures from the ticket and
// manifest signatures the same keys make.
const revocationDomain = "venuebox revocation v1\x00"

// SignedBytes returns what Sig signs: a domain prefix and the revocation's
// JSON without Sig.
func (r Revocation) SignedBytes() []byte {
	r.Sig = nil
	r.V = Version
	b, _ := json.Marshal(r) // strings, times and a nil slice always marshal
	return append([]byte(revocationDomain), b...)
}

// Encode marshals p after setting its version and validating it, and
// refuses a result over MaxMessage.
func Encode(p Payload) ([]byte, error) {
	p.setVersion()
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("wire: encode %T: %w", p, err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("wire: encode %T: %w", p, err)
	}
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("wire: encode %T: %w: %d bytes", p, ErrTooLarge, len(b))
	}
	return b, nil
}

// Decode checks the size and version of b, unmarshals it into p and
// validates the result.
func Decode(b []byte, p Payload) error {
	if len(b) > MaxMessage {
		return fmt.Errorf("wire: decode %T: %w: %d bytes", p, ErrTooLarge, len(b))
	}
	var head struct {
		V *int `json:"v"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return fmt.Errorf("wire: decode %T: %w: %v", p, ErrInvalid, err)
	}
	if head.V == nil {
		return fmt.Errorf("wire: decode %T: %w: no version", p, ErrVersion)
	}
	if *head.V != Version {
		return fmt.Errorf("wire: decode %T: %w: %d", p, ErrVersion, *head.V)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(p); err != nil {
		return fmt.Errorf("wire: decode %T: %w: %v", p, ErrInvalid, err)
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("wire: decode %T: %w", p, err)
	}
	return nil
}

// A Payload is one of the message types of this package.
type Payload interface {
	// Validate reports whether the payload is well formed.
	Validate() error
	setVersion()
}

func (b *Batch) setVersion()           { b.V = Version }
func (a *Ack) setVersion()             { a.V = Version }
func (s *State) setVersion()           { s.V = Version }
func (r *ManifestRequest) setVersion() { r.V = Version }
func (c *ManifestChunk) setVersion()   { c.V = Version }
func (r *Revocation) setVersion()      { r.V = Version }

func text(name, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%w: %s longer than %d", ErrInvalid, name, max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s not UTF-8", ErrInvalid, name)
	}
	return nil
}

func id(name, s string) error {
	if err := ValidID(s); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// Validate checks one check-in.
func (c *CheckIn) Validate() error {
	if err := id("box", c.Box); err != nil {
		return err
	}
	if c.Gate != "" {
		if err := id("gate", c.Gate); err != nil {
			return err
		}
	}
	if c.Nonce == "" || len(c.Nonce) > 64 {
		return fmt.Errorf("%w: nonce length %d", ErrInvalid, len(c.Nonce))
	}
	if err := text("nonce", c.Nonce, 64); err != nil {
		return err
	}
	if c.Seq == 0 {
		return fmt.Errorf("%w: seq 0", ErrInvalid)
	}
	if c.Event != "" {
		if err := id("event", c.Event); err != nil {
			return err
		}
	}
	for _, f := range []struct{ n, v string }{{"ticket", c.Ticket}, {"verdict", c.Verdict}, {"reason", c.Reason}, {"input", c.Input}, {"staff", c.Staff}, {"note", c.Note}} {
		if err := text(f.n, f.v, maxText); err != nil {
			return err
		}
	}
	switch c.Verdict {
	case "admitted", "rejected", "held":
	default:
		return fmt.Errorf("%w: verdict %q", ErrInvalid, c.Verdict)
	}
	if c.At.IsZero() {
		return fmt.Errorf("%w: no time", ErrInvalid)
	}
	return nil
}

// Validate checks the batch and every check-in in it, each of which must
// come from the batch's box.
func (b *Batch) Validate() error {
	if err := id("box", b.Box); err != nil {
		return err
	}
	if len(b.CheckIns) == 0 || len(b.CheckIns) > MaxBatch {
		return fmt.Errorf("%w: %d check-ins", ErrInvalid, len(b.CheckIns))
	}
	for i := range b.CheckIns {
		c := &b.CheckIns[i]
		if err := c.Validate(); err != nil {
			return fmt.Errorf("check-in %d: %w", i, err)
		}
		if c.Box != b.Box {
			return fmt.Errorf("%w: check-in %d from box %q in batch of %q", ErrInvalid, i, c.Box, b.Box)
		}
	}
	return nil
}

// Validate checks the acknowledgement.
func (a *Ack) Validate() error {
	if err := id("box", a.Box); err != nil {
		return err
	}
	if len(a.Nonces) > MaxBatch || len(a.Missing) > MaxBatch {
		return fmt.Errorf("%w: ack too long", ErrInvalid)
	}
	for _, n := range a.Nonces {
		if n == "" || len(n) > 64 {
			return fmt.Errorf("%w: nonce length %d", ErrInvalid, len(n))
		}
	}
	for _, r := range a.Missing {
		if r.From == 0 || r.To < r.From {
			return fmt.Errorf("%w: missing range %d-%d", ErrInvalid, r.From, r.To)
		}
	}
	if a.Audit != nil {
		if err := a.Audit.Validate(); err != nil {
			return fmt.Errorf("audit mark: %w", err)
		}
	}
	return nil
}

// Validate checks the state message.
func (s *State) Validate() error {
	if err := id("box", s.Box); err != nil {
		return err
	}
	if err := text("software", s.Software, MaxID); err != nil {
		return err
	}
	if len(s.Manifests) > 1024 {
		return fmt.Errorf("%w: %d manifests", ErrInvalid, len(s.Manifests))
	}
	for ev := range s.Manifests {
		if err := id("event", ev); err != nil {
			return err
		}
	}
	if s.Queued < 0 {
		return fmt.Errorf("%w: queued %d", ErrInvalid, s.Queued)
	}
	return nil
}

// Validate checks the manifest request.
func (r *ManifestRequest) Validate() error {
	if err := id("box", r.Box); err != nil {
		return err
	}
	if len(r.Have) > 1024 {
		return fmt.Errorf("%w: %d events", ErrInvalid, len(r.Have))
	}
	for ev := range r.Have {
		if err := id("event", ev); err != nil {
			return err
		}
	}
	if r.Resume != nil {
		if err := id("event", r.Resume.Event); err != nil {
			return err
		}
		if r.Resume.Next < 0 || r.Resume.Next >= MaxChunks {
			return fmt.Errorf("%w: resume at chunk %d", ErrInvalid, r.Resume.Next)
		}
	}
	return nil
}

// Validate checks the chunk's framing; it says nothing of the signature.
func (c *ManifestChunk) Validate() error {
	if err := id("event", c.Event); err != nil {
		return err
	}
	if c.Version == 0 || c.Base >= c.Version {
		return fmt.Errorf("%w: version %d on base %d", ErrInvalid, c.Version, c.Base)
	}
	if c.Count < 1 || c.Count > MaxChunks || c.Index < 0 || c.Index >= c.Count {
		return fmt.Errorf("%w: chunk %d of %d", ErrInvalid, c.Index, c.Count)
	}
	if len(c.Data) > MaxChunk || c.Size < 0 || c.Size > MaxChunks*MaxChunk || len(c.Data) > c.Size {
		return fmt.Errorf("%w: chunk of %d bytes, manifest of %d", ErrInvalid, len(c.Data), c.Size)
	}
	if len(c.SHA256) != sha256.Size {
		return fmt.Errorf("%w: digest length %d", ErrInvalid, len(c.SHA256))
	}
	return nil
}

// Validate checks the revocation.
func (r *Revocation) Validate() error {
	if err := id("event", r.Event); err != nil {
		return err
	}
	if len(r.Tickets) == 0 || len(r.Tickets) > 10000 {
		return fmt.Errorf("%w: %d tickets", ErrInvalid, len(r.Tickets))
	}
	for _, t := range r.Tickets {
		if t == "" {
			return fmt.Errorf("%w: empty ticket", ErrInvalid)
		}
		if err := text("ticket", t, MaxID); err != nil {
			return err
		}
	}
	if r.Expires.IsZero() || !r.Expires.After(r.At) {
		return fmt.Errorf("%w: revocation expires before it was made", ErrInvalid)
	}
	if err := text("key", r.Key, 16); err != nil {
		return err
	}
	if len(r.Sig) > 128 {
		return fmt.Errorf("%w: signature of %d bytes", ErrInvalid, len(r.Sig))
	}
	return nil
}

// Split cuts a signed manifest into chunks of at most MaxChunk bytes.
func Split(event string, version, base uint64, raw []byte) ([]ManifestChunk, error) {
	n := (len(raw) + MaxChunk - 1) / MaxChunk
	if n == 0 {
		n = 1
	}
	if n > MaxChunks {
		return nil, fmt.Errorf("wire: split manifest: %w: %d bytes", ErrTooLarge, len(raw))
	}
	sum := sha256.Sum256(raw)
	out := make([]ManifestChunk, n)
	for i := range out {
		lo, hi := i*MaxChunk, min((i+1)*MaxChunk, len(raw))
		out[i] = ManifestChunk{V: Version, Event: event, Version: version, Base: base,
			Index: i, Count: n, Size: len(raw), SHA256: sum[:], Data: raw[lo:hi]}
		if err := out[i].Validate(); err != nil {
			return nil, fmt.Errorf("wire: split manifest: %w", err)
		}
	}
	return out, nil
}

// Refusal returns why a received payload is refused: the decoding error
// err, or else that it names box got where want was expected.
func Refusal(err error, got, want string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: names box %q, expected %q", ErrInvalid, got, want)
}
