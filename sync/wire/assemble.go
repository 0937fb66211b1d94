package wire

import (
	"bytes"
	"crypto/sha256"
	"fmt"
)

// An Assembler reassembles chunked manifests, one in progress per event.
// A chunk of a different version or base for the same event starts over.
// What it holds is bounded whatever arrives: at most MaxPending manifests
// in progress and MaxBytes of them (by their declared sizes); starting one
// more drops the one least recently added to. It is not safe for
// concurrent use.
type Assembler struct {
	// MaxPending and MaxBytes bound the manifests in progress; zero means
	// DefaultMaxPending and DefaultMaxBytes.
	MaxPending, MaxBytes int

	parts map[string]*partial
	tick  uint64 // counts Adds, to find the least recently added to
}

// Defaults of an Assembler's bounds: a few manifests in progress at once
// (a venue broadcast can interleave with an answer to the box), and more
// bytes than a 100,000-ticket manifest takes.
const (
	DefaultMaxPending = 4
	DefaultMaxBytes   = 128 << 20
)

type partial struct {
	version, base uint64
	count, size   int
	sum           []byte
	chunks        [][]byte
	have, bytes   int
	touched       uint64
}

// room makes room for a new manifest of size bytes for event, dropping
// the manifests in progress least recently added to.
func (a *Assembler) room(event string, size int) error {
	maxPending, maxBytes := a.MaxPending, a.MaxBytes
	if maxPending <= 0 {
		maxPending = DefaultMaxPending
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if size > maxBytes {
		return fmt.Errorf("wire: assemble %s: %w: manifest of %d bytes, more than %d", event, ErrTooLarge, size, maxBytes)
	}
	delete(a.parts, event)
	for {
		total := size
		oldest := ""
		for ev, p := range a.parts {
			total += p.size
			if oldest == "" || p.touched < a.parts[oldest].touched {
				oldest = ev
			}
		}
		if oldest == "" || (len(a.parts) < maxPending && total <= maxBytes) {
			return nil
		}
		delete(a.parts, oldest)
	}
}

// Add takes one validated chunk. When it completes a manifest whose digest
// matches, Add returns the manifest's bytes and forgets it.
func (a *Assembler) Add(c ManifestChunk) ([]byte, error) {
	if a.parts == nil {
		a.parts = map[string]*partial{}
	}
	p := a.parts[c.Event]
	if p == nil || p.version != c.Version || p.base != c.Base || p.count != c.Count || p.size != c.Size || !bytes.Equal(p.sum, c.SHA256) {
		if err := a.room(c.Event, c.Size); err != nil {
			return nil, err
		}
		p = &partial{version: c.Version, base: c.Base, count: c.Count, size: c.Size,
			sum: bytes.Clone(c.SHA256), chunks: make([][]byte, c.Count)}
		a.parts[c.Event] = p
	}
	a.tick++
	p.touched = a.tick
	if p.chunks[c.Index] == nil {
		if p.bytes+len(c.Data) > p.size {
			delete(a.parts, c.Event)
			return nil, fmt.Errorf("wire: assemble %s v%d: %w: chunks exceed the declared %d bytes", c.Event, c.Version, ErrInvalid, p.size)
		}
		p.bytes += len(c.Data)
		p.chunks[c.Index] = bytes.Clone(c.Data)
		if p.chunks[c.Index] == nil {
			p.chunks[c.Index] = []byte{}
		}
		p.have++
	}
	if p.have < p.count {
		return nil, nil
	}
	delete(a.parts, c.Event)
	raw := bytes.Join(p.chunks, nil)
	if len(raw) != p.size {
		return nil, fmt.Errorf("wire: assemble %s v%d: %w: %d bytes, want %d", c.Event, c.Version, ErrInvalid, len(raw), p.size)
	}
	if sum := sha256.Sum256(raw); !bytes.Equal(sum[:], p.sum) {
		return nil, fmt.Errorf("wire: assemble %s v%d: %w: digest mismatch", c.Event, c.Version, ErrInvalid)
	}
	return raw, nil
}

// Pending reports the manifest in progress for event, if any, and the first
// chunk it lacks, for a Resume.
func (a *Assembler) Pending(event string) (r Resume, ok bool) {
	p := a.parts[event]
	if p == nil {
		return Resume{}, false
	}
	for i, c := range p.chunks {
		if c == nil {
			return Resume{Event: event, Version: p.version, Next: i}, true
		}
	}
	return Resume{}, false
}

// Events lists the events with a manifest in progress.
func (a *Assembler) Events() []string {
	out := make([]string, 0, len(a.parts))
	for ev := range a.parts {
		out = append(out, ev)
	}
	return out
}

// Drop forgets the manifest in progress for event.
func (a *Assembler) Drop(event string) { delete(a.parts, event) }
