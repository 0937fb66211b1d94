package box

import (
	"venuebox/store"
	"venuebox/sync/boxsync"
	"venuebox/sync/wire"
)

// syncStore gives boxsync the box's store, in the wire's check-in type.
type syncStore struct{ st *store.Store }

var (
	_ boxsync.Store    = syncStore{}
	_ boxsync.AuditLog = syncStore{}
)

func (s syncStore) Pending(limit int, skip func(nonce string) bool) ([]boxsync.CheckIn, error) {
	cs, err := s.st.PendingExcept(limit, skip)
	if err != nil {
		return nil, err
	}
	out := make([]boxsync.CheckIn, len(cs))
	for i, c := range cs {
		out[i] = toWire(c)
	}
	return out, nil
}

func (s syncStore) Ack(nonces ...string) error { return s.st.Ack(nonces...) }

func (s syncStore) Queued() (int, error) { return s.st.Queued() }

func (s syncStore) AddPeer(c boxsync.CheckIn) (bool, error) {
	return s.st.AddPeer(store.CheckIn{Nonce: c.Nonce, Box: c.Box, Gate: c.Gate, Boot: c.Boot, Seq: c.Seq,
		Event: c.Event, Ticket: c.Ticket, Verdict: c.Verdict, Reason: c.Reason, At: c.At, TempC: c.TempC,
		Input: c.Input, Staff: c.Staff, Note: c.Note})
}

func (s syncStore) Revoke(event string, ids ...string) error { return s.st.Revoke(event, ids...) }

func (s syncStore) ManifestVersions() (map[string]uint64, error) { return s.st.ManifestVersions() }

// AuditAfter gives sync the audit entries to upload.
func (s syncStore) AuditAfter(seq uint64, limit int) ([]wire.AuditEntry, error) {
	es, err := s.st.AuditLog(seq, limit)
	if err != nil {
		return nil, err
	}
	out := make([]wire.AuditEntry, len(es))
	for i, e := range es {
		out[i] = wire.AuditEntry(e)
	}
	return out, nil
}

// AuditDigest recomputes the audit chain from the entries in the file up
// to seq, each hashed (store.HashEntry) over its contents and the hash
// recomputed before it, so that an entry altered or removed anywhere up to
// seq changes the result even when the stored hashes were fixed up too.
func (s syncStore) AuditDigest(seq uint64) (uint64, string, error) {
	var reached uint64
	prev := ""
	for after := uint64(0); ; {
		es, err := s.st.AuditLog(after, 1000)
		if err != nil {
			return 0, "", err
		}
		for _, e := range es {
			if e.Seq > seq {
				return reached, prev, nil
			}
			e.Prev = prev
			prev, reached = store.HashEntry(e), e.Seq
		}
		if len(es) == 0 {
			return reached, prev, nil
		}
		after = es[len(es)-1].Seq
	}
}

func toWire(c store.CheckIn) wire.CheckIn {
	return wire.CheckIn{Nonce: c.Nonce, Box: c.Box, Gate: c.Gate, Boot: c.Boot, Seq: c.Seq, Event: c.Event,
		Ticket: c.Ticket, Verdict: c.Verdict, Reason: c.Reason, At: c.At, TempC: c.TempC, Input: c.Input,
		Staff: c.Staff, Note: c.Note}
}
