package hqsync

import (
	"context"
	"fmt"
	"time"

	"venuebox/store"
	"venuebox/store/hqstore"
	"venuebox/sync/mqttconn"
	"venuebox/sync/wire"
)

// AuditStore keeps each box's audit chain as HQ verified it; hqstore.Store
// is one.
type AuditStore interface {
	// UpdateAudit edits one box's audit state in a transaction and keeps
	// the entries f returns with it.
	UpdateAudit(box string, f func(*hqstore.AuditState) ([]hqstore.AuditEntry, error)) (hqstore.AuditState, error)
}

type auditIn struct {
	topic wire.Topic
	batch wire.AuditBatch
}

func (h *HQ) onAudit(ctx context.Context, m mqttconn.Message) {
	t, err := wire.ParseTopic(m.Topic)
	if err != nil {
		h.log.Warn("audit batch on bad topic refused", "topic", m.Topic, "err", err)
		return
	}
	var b wire.AuditBatch
	if err := wire.Decode(m.Payload, &b); err != nil || b.Box != t.Box {
		h.log.Warn("audit batch refused", "topic", m.Topic, "bytes", len(m.Payload), "err", wire.Refusal(err, b.Box, t.Box))
		return
	}
	select {
	case h.audits <- auditIn{t, b}:
	case <-ctx.Done():
	}
}

// auditLoop verifies audit batches one at a time (each box sends one at a
// time) and acknowledges each with HQ's mark.
func (h *HQ) auditLoop(ctx context.Context) {
	for {
		var x auditIn
		select {
		case <-ctx.Done():
			return
		case x = <-h.audits:
		}
		var found []hqstore.AuditBreak
		st, err := h.cfg.Audit.UpdateAudit(x.batch.Box, func(st *hqstore.AuditState) ([]hqstore.AuditEntry, error) {
			var keep []hqstore.AuditEntry
			keep, found = VerifyAudit(st, &x.batch, h.cfg.Now())
			st.Mark()
			return keep, nil
		})
		if err != nil {
			// No ack: the box sends the batch again.
			h.log.Error("audit entries not stored", "box", x.batch.Box, "entries", len(x.batch.Entries), "err", err)
			continue
		}
		for _, b := range found {
			h.log.Warn("audit chain broken", "box", x.batch.Box, "seq", b.Seq, "reason", b.Reason, "detail", b.Detail)
		}
		a := wire.Ack{V: wire.Version, Box: x.batch.Box, Nonces: []string{}, Echo: x.batch.Sent, HQTime: h.cfg.Now(),
			Audit: &wire.AuditMark{Seq: st.Seq, Hash: st.Head}}
		select {
		case h.acks <- outbound{wire.BoxTopic(x.topic.Org, x.topic.Venue, x.batch.Box, wire.KindAck), a}:
		case <-ctx.Done():
			return
		}
	}
}

// VerifyAudit checks a batch of a box's audit entries against the chain
// HQ holds (st, which it advances) with the box's own algorithm
// (store.HashEntry), and returns the entries to keep and the breaks it
// found. A break is recorded in st and the chain taken up again after it,
// so that one tampered entry is one finding, and what follows is still
// checked.
//
// What it catches: an entry whose contents no longer match its hash, an
// entry that does not link to the one HQ holds before it (a rewritten
// chain), entries missing between the last HQ holds and the next, and, by
// the box's attestation, entries altered or removed after HQ received them
// (the chain recomputed from the box's file no longer reaches the hash HQ
// verified) and a chain shorter than what HQ received.
func VerifyAudit(st *hqstore.AuditState, b *wire.AuditBatch, now time.Time) ([]hqstore.AuditEntry, []hqstore.AuditBreak) {
	var found []hqstore.AuditBreak
	brk := func(seq uint64, reason, detail string) {
		x := hqstore.AuditBreak{Seq: seq, Reason: reason, Detail: detail, Found: now}
		if st.AddBreak(x) {
			found = append(found, x)
		}
	}
	if a := b.Attest; a != nil {
		held, known := st.MarkDigest(a.Seq)
		current := a.Seq == st.Seq
		switch {
		case !known:
			// A position HQ did not give (or gave before it took the
			// chain up again): nothing to compare with.
		case a.Reached < a.Seq:
			if current {
				brk(a.Reached+1, hqstore.BreakTruncated,
					fmt.Sprintf("the box's chain ends at entry %d; HQ had received entries up to %d", a.Reached, a.Seq))
				st.Restart(a.Reached, a.Hash)
			}
		case a.Hash != held:
			brk(a.Seq, hqstore.BreakAltered,
				fmt.Sprintf("entries 1 to %d, recomputed from the box's file, no longer reach the hash HQ verified: an entry was altered or removed after HQ received it", a.Seq))
			if current {
				st.Reanchor = true
			}
		default:
			st.AttestedAt, st.AttestedSeq = now, a.Seq
		}
	}
	var keep []hqstore.AuditEntry
	for _, w := range b.Entries {
		if w.Seq <= st.Seq {
			continue // held already: a redelivery
		}
		e := store.Entry(w)
		bad := ""
		linked := !st.Reanchor
		if w.Seq > st.Seq+1 {
			missing := fmt.Sprintf("entry %d is", st.Seq+1)
			if w.Seq > st.Seq+2 {
				missing = fmt.Sprintf("entries %d to %d are", st.Seq+1, w.Seq-1)
			}
			brk(st.Seq+1, hqstore.BreakMissing, missing+" missing from the box's chain")
			bad, linked = hqstore.BreakMissing, false
		}
		switch {
		case store.HashEntry(e) != e.Hash:
			brk(w.Seq, hqstore.BreakAltered, fmt.Sprintf("entry %d (%s) does not match its hash: it was altered", w.Seq, w.Kind))
			bad = hqstore.BreakAltered
		case linked && w.Prev != st.Head:
			brk(w.Seq, hqstore.BreakRelinked, fmt.Sprintf("entry %d does not follow entry %d as HQ received it: the chain was rewritten", w.Seq, st.Seq))
			bad = hqstore.BreakRelinked
		}
		keep = append(keep, hqstore.AuditEntry{Entry: e, Epoch: st.Epoch, Bad: bad})
		d := e
		d.Prev = st.Digest
		st.Seq, st.Head, st.Digest, st.Reanchor = w.Seq, w.Hash, store.HashEntry(d), false
		st.Entries++
	}
	if len(b.Entries) > 0 {
		st.CheckedAt = now
	}
	return keep, found
}
