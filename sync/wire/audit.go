package wire

import (
	"fmt"
	"time"
)

// MaxAuditBatch caps the entries of one AuditBatch.
const MaxAuditBatch = 500

// maxDetail caps an audit entry's detail, which the box writes itself (a
// recovery's findings can be long).
const maxDetail = 4096

// An AuditEntry is one entry of a box's hash-chained audit log exactly as
// the box holds it (store.Entry: the same fields under the same names, so
// that HQ recomputes the same hash). Hash is SHA-256 over the entry's JSON
// with Hash empty; Prev is the hash of the entry before.
type AuditEntry struct {
	Seq     uint64    `json:"seq"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Actor   string    `json:"actor,omitempty"`
	Subject string    `json:"subject,omitempty"`
	Verdict string    `json:"verdict,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Input   string    `json:"input,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	Prev    string    `json:"prev"`
	Hash    string    `json:"hash"`
}

// An AuditMark is a position in a box's audit chain: an entry's number and
// hash. Seq 0 with an empty hash is the start, before any entry.
type AuditMark struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// An AuditAttest is the box's answer to HQ's mark: its chain recomputed
// from the entries in its file (their stored hashes not trusted) up to Seq,
// the mark HQ gave it. Reached is how far the chain went (less than Seq
// when the box holds fewer entries than HQ received), Hash the recomputed
// hash of entry Reached. An entry altered or removed after HQ received it
// changes that hash.
type AuditAttest struct {
	Seq     uint64 `json:"seq"`
	Reached uint64 `json:"reached"`
	Hash    string `json:"hash"`
}

// An AuditBatch carries entries of a box's audit chain, oldest first, the ones after the mark HQ last acknowledged. An empty batch
// without Attest asks HQ for its mark. HQ answers every batch with an Ack
// whose Audit is its mark after the batch.
type AuditBatch struct {
	V       int          `json:"v"`
	Box     string       `json:"box"`
	Sent    time.Time    `json:"sent"`
	Attest  *AuditAttest `json:"attest,omitempty"`
	Entries []AuditEntry `json:"entries"`
}

func (b *AuditBatch) setVersion() { b.V = Version }

func hash64(name, s string, empty bool) error {
	if s == "" && empty {
		return nil
	}
	if len(s) != 64 {
		return fmt.Errorf("%w: %s of %d characters, want 64 hex digits", ErrInvalid, name, len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("%w: %s is not lower-case hex", ErrInvalid, name)
		}
	}
	return nil
}

// Validate checks the mark.
func (m *AuditMark) Validate() error {
	if err := hash64("hash", m.Hash, m.Seq == 0); err != nil {
		return err
	}
	if m.Seq == 0 && m.Hash != "" {
		return fmt.Errorf("%w: a hash at seq 0", ErrInvalid)
	}
	return nil
}

// Validate checks one entry's form; whether it belongs in the chain is
// for HQ to verify.
func (e *AuditEntry) Validate() error {
	if e.Seq == 0 {
		return fmt.Errorf("%w: seq 0", ErrInvalid)
	}
	if err := hash64("hash", e.Hash, false); err != nil {
		return err
	}
	if err := hash64("prev", e.Prev, true); err != nil {
		return err
	}
	for _, f := range []struct{ n, v string }{{"kind", e.Kind}, {"actor", e.Actor}, {"subject", e.Subject},
		{"verdict", e.Verdict}, {"reason", e.Reason}, {"input", e.Input}} {
		if err := text(f.n, f.v, maxText); err != nil {
			return err
		}
	}
	if e.Kind == "" {
		return fmt.Errorf("%w: no kind", ErrInvalid)
	}
	return text("detail", e.Detail, maxDetail)
}

// Validate checks the batch: its box, the attestation's form, and entries
// that are well formed, in increasing order. They need not be consecutive:
// a box whose file lost an entry sends what it has, and HQ flags the gap.
func (b *AuditBatch) Validate() error {
	if err := id("box", b.Box); err != nil {
		return err
	}
	if len(b.Entries) > MaxAuditBatch {
		return fmt.Errorf("%w: %d audit entries", ErrInvalid, len(b.Entries))
	}
	if a := b.Attest; a != nil {
		if a.Reached > a.Seq {
			return fmt.Errorf("%w: attested beyond the mark (%d > %d)", ErrInvalid, a.Reached, a.Seq)
		}
		if err := hash64("attested hash", a.Hash, a.Reached == 0); err != nil {
			return err
		}
	}
	for i := range b.Entries {
		e := &b.Entries[i]
		if err := e.Validate(); err != nil {
			return fmt.Errorf("audit entry %d: %w", i, err)
		}
		if i > 0 && e.Seq <= b.Entries[i-1].Seq {
			return fmt.Errorf("%w: audit entry %d has seq %d after %d", ErrInvalid, i, e.Seq, b.Entries[i-1].Seq)
		}
	}
	return nil
}
