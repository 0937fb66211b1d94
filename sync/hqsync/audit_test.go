package hqsync

import (
	"testing"
	"time"

	"venuebox/store"
	"venuebox/store/hqstore"
	"venuebox/sync/wire"
)

// chain makes n linked audit entries as a box's store does.
func chain(n int) []wire.AuditEntry {
	var out []wire.AuditEntry
	prev := ""
	for i := 1; i <= n; i++ {
		e := store.Entry{Seq: uint64(i), At: time.Unix(int64(i), 0).UTC(), Kind: "decision", Actor: "gate-1",
			Verdict: "admitted", Reason: "ok", Prev: prev}
		e.Hash = store.HashEntry(e)
		prev = e.Hash
		out = append(out, wire.AuditEntry(e))
	}
	return out
}

// digest recomputes es as the box's attestation does.
func digest(es []wire.AuditEntry) string {
	prev := ""
	for _, w := range es {
		e := store.Entry(w)
		e.Prev = prev
		prev = store.HashEntry(e)
	}
	return prev
}

func TestVerifyAudit(t *testing.T) {
	now := time.Unix(1000, 0)
	es := chain(10)
	feed := func(st *hqstore.AuditState, b wire.AuditBatch) []hqstore.AuditBreak {
		_, found := VerifyAudit(st, &b, now)
		st.Mark()
		return found
	}
	t.Run("a clean chain in pieces, redelivered, attested", func(t *testing.T) {
		var st hqstore.AuditState
		for _, b := range []wire.AuditBatch{{Entries: es[:4]}, {Entries: es[2:7]}, {Entries: es[:4]}, {Entries: es[7:]}} {
			if f := feed(&st, b); len(f) != 0 {
				t.Fatalf("breaks %+v", f)
			}
		}
		if st.Seq != 10 || st.Head != es[9].Hash || st.Entries != 10 || st.Digest != es[9].Hash {
			t.Fatalf("state %+v", st)
		}
		// An attestation at the current mark, and a late one at an
		// earlier mark, both agree.
		if f := feed(&st, wire.AuditBatch{Attest: &wire.AuditAttest{Seq: 10, Reached: 10, Hash: digest(es)}}); len(f) != 0 || st.AttestedSeq != 10 {
			t.Fatalf("attestation: %+v %+v", f, st)
		}
		if f := feed(&st, wire.AuditBatch{Attest: &wire.AuditAttest{Seq: 7, Reached: 7, Hash: digest(es[:7])}}); len(f) != 0 {
			t.Fatalf("late attestation: %+v", f)
		}
		if f := feed(&st, wire.AuditBatch{Attest: &wire.AuditAttest{Seq: 7, Reached: 5, Hash: digest(es[:5])}}); len(f) != 0 {
			t.Fatalf("a late short attestation is not the box's chain now: %+v", f)
		}
		if st.Broken {
			t.Fatal("broken")
		}
	})
	t.Run("altered, then the rest verified", func(t *testing.T) {
		bad := append([]wire.AuditEntry(nil), es...)
		bad[4].Verdict = "rejected"
		var st hqstore.AuditState
		f := feed(&st, wire.AuditBatch{Entries: bad})
		if len(f) != 1 || f[0].Reason != hqstore.BreakAltered || f[0].Seq != 5 || !st.Broken || st.Seq != 10 {
			t.Fatalf("breaks %+v, state %+v", f, st)
		}
		// Its attestation agrees with what HQ received, altered entry
		// included: one edit is one finding.
		if f := feed(&st, wire.AuditBatch{Attest: &wire.AuditAttest{Seq: 10, Reached: 10, Hash: digest(bad)}}); len(f) != 0 {
			t.Fatalf("attestation after: %+v", f)
		}
	})
	t.Run("relinked", func(t *testing.T) {
		var st hqstore.AuditState
		feed(&st, wire.AuditBatch{Entries: es[:5]})
		other := chain(7)
		other[5].Actor = "forged" // a chain rewritten from entry 6, hashed consistently
		other[5].Prev = "ab" + other[5].Prev[2:]
		e := store.Entry(other[5])
		other[5].Hash = store.HashEntry(e)
		f := feed(&st, wire.AuditBatch{Entries: other[5:6]})
		if len(f) != 1 || f[0].Reason != hqstore.BreakRelinked {
			t.Fatalf("breaks %+v", f)
		}
	})
	t.Run("missing", func(t *testing.T) {
		var st hqstore.AuditState
		gappy := append(append([]wire.AuditEntry(nil), es[:3]...), es[5:]...)
		f := feed(&st, wire.AuditBatch{Entries: gappy})
		if len(f) != 1 || f[0].Reason != hqstore.BreakMissing || f[0].Seq != 4 || st.Seq != 10 {
			t.Fatalf("breaks %+v, state %+v", f, st)
		}
	})
	t.Run("altered after upload", func(t *testing.T) {
		var st hqstore.AuditState
		feed(&st, wire.AuditBatch{Entries: es})
		bad := append([]wire.AuditEntry(nil), es...)
		bad[2].Reason = "staff-override"
		f := feed(&st, wire.AuditBatch{Attest: &wire.AuditAttest{Seq: 10, Reached: 10, Hash: digest(bad)}})
		if len(f) != 1 || f[0].Reason != hqstore.BreakAltered || !st.Reanchor {
			t.Fatalf("breaks %+v", f)
		}
		// Found again by a redelivered batch: recorded once.
		feed(&st, wire.AuditBatch{Attest: &wire.AuditAttest{Seq: 10, Reached: 10, Hash: digest(bad)}})
		if st.BreakCount != 1 {
			t.Fatalf("%d breaks", st.BreakCount)
		}
	})
	t.Run("truncated, then taken up again", func(t *testing.T) {
		var st hqstore.AuditState
		feed(&st, wire.AuditBatch{Entries: es})
		f := feed(&st, wire.AuditBatch{Attest: &wire.AuditAttest{Seq: 10, Reached: 6, Hash: digest(es[:6])}})
		if len(f) != 1 || f[0].Reason != hqstore.BreakTruncated || st.Seq != 6 || st.Epoch != 1 {
			t.Fatalf("breaks %+v, state %+v", f, st)
		}
		// The box's new entries 7.. follow entry 6 and are kept in the new epoch.
		next := chain(8)[6:]
		next[0].Kind = "recover"
		e := store.Entry(next[0])
		e.Prev = es[5].Hash
		next[0] = wire.AuditEntry(e)
		next[0].Hash = store.HashEntry(e)
		keep, found := VerifyAudit(&st, &wire.AuditBatch{Entries: next[:1]}, now)
		if len(found) != 0 || len(keep) != 1 || keep[0].Epoch != 1 || st.Seq != 7 {
			t.Fatalf("after truncation: %+v %+v %+v", found, keep, st)
		}
	})
}
