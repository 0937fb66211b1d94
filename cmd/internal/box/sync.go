package box

import (
	"venuebox/store"
	"venuebox/sync/boxsync"
	"venuebox/sync/wire"
)

// syncStore gives boxsync the box's store, in the wire's check-in type.
type syncStore struct{ st *store.Store }

var _ boxsync.Store = syncStore{}

func (s syncStore) Pending(limit int) ([]boxsync.CheckIn, error) {
	cs, err := s.st.Pending(limit)
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

func toWire(c store.CheckIn) wire.CheckIn {
	return wire.CheckIn{Nonce: c.Nonce, Box: c.Box, Gate: c.Gate, Boot: c.Boot, Seq: c.Seq, Event: c.Event,
		Ticket: c.Ticket, Verdict: c.Verdict, Reason: c.Reason, At: c.At, TempC: c.TempC, Input: c.Input,
		Staff: c.Staff, Note: c.Note}
}
