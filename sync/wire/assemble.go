package wire

import (
	"bytes"
	"crypto/sha256"
	"fmt"
)

// An Assembler reassembles chunked manifests, one in progress per event.
// A chunk of a different version or base for the same event starts over.
// It is not safe for concurrent use.
type Assembler struct {
	parts map[string]*partial
}

type partial struct {
	version, base uint64
	count, size   int
	sum           []byte
	chunks        [][]byte
	have          int
}

// Add takes one validated chunk. When it completes a manifest whose digest
// matches, Add returns the manifest's bytes and forgets it.
func (a *Assembler) Add(c ManifestChunk) ([]byte, error) {
	if a.parts == nil {
		a.parts = map[string]*partial{}
	}
	p := a.parts[c.Event]
	if p == nil || p.version != c.Version || p.base != c.Base || p.count != c.Count || p.size != c.Size || !bytes.Equal(p.sum, c.SHA256) {
		p = &partial{version: c.Version, base: c.Base, count: c.Count, size: c.Size,
			sum: bytes.Clone(c.SHA256), chunks: make([][]byte, c.Count)}
		a.parts[c.Event] = p
	}
	if p.chunks[c.Index] == nil {
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
