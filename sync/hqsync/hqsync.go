// Package hqsync is HQ's end of the sync protocol (sync/PROTOCOL.md). It
// receives check-in batches from every box, stores them through a Store
// and acknowledges each batch to its box only after the store committed it;
// it keeps the fleet's state from the boxes' birth and will messages; it
// answers boxes' manifest requests with chunked, signed manifests and
// broadcasts new manifests and revocations to venues. Several HQ processes
// can share one broker: batches and requests are read through a shared
// subscription, so each goes to one of them, and the store's idempotency
// makes a redelivered batch harmless.
package hqsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"venuebox/store/hqstore"
	"venuebox/sync/mqttconn"
	"venuebox/sync/wire"
)

// DriftLimit is the clock offset beyond which a box is flagged as drifting.
const DriftLimit = 2 * time.Second

// Store is what HQ's ingest needs from its attendance store; hqstore.Store
// (bbolt) is one, a PostgreSQL store for replicas can be another.
type Store interface {
	// Ingest stores check-ins exactly once, in one transaction.
	Ingest(cs []hqstore.CheckIn) (hqstore.Result, error)
	// UpdateBox edits one box's fleet record in a transaction.
	UpdateBox(box string, f func(*hqstore.Box)) error
}

// A Manifest is one signed manifest: a snapshot (Base 0) or a delta from
// Base to Version. Raw is the signed envelope, passed on untouched.
type Manifest struct {
	Event         string
	Version, Base uint64
	Raw           []byte
}

// Manifests gives what a box at a venue lacks, given the versions it holds
// (an empty map: it holds nothing). Deltas come in order of version.
type Manifests interface {
	Manifests(org, venue string, have map[string]uint64) ([]Manifest, error)
}

// Config configures HQ's end.
type Config struct {
	// MQTT is the connection; its ClientID must differ per HQ process.
	MQTT mqttconn.Config
	// Group is the shared-subscription group; several HQ processes with
	// the same group split the boxes' messages. Empty: no sharing.
	Group string
	// Manifests answers manifest requests; nil ignores them.
	Manifests Manifests
	// MaxBatches caps how many received batches one store transaction
	// takes (default 64).
	MaxBatches int
	// Sign signs commands to boxes (revocations) with HQ's key, whose id
	// is SignKey; Revoke refuses to send without it.
	Sign    func(msg []byte) []byte
	SignKey string
	// CommandTTL is how long a command stays valid (default 10 min).
	CommandTTL time.Duration
	// Audit keeps and verifies the boxes' audit chains; nil ignores
	// audit batches (and acknowledges none, so boxes keep them).
	Audit AuditStore
	// Now is HQ's clock; nil means time.Now.
	Now func() time.Time
}

// HQ is HQ's end of sync.
type HQ struct {
	cfg  Config
	st   Store
	log  *slog.Logger
	conn *mqttconn.Conn
	in   chan inbound
	acks chan outbound

	audits chan auditIn
}

type inbound struct {
	topic wire.Topic
	batch wire.Batch
}

type outbound struct {
	topic string
	ack   wire.Ack
}

// New prepares HQ's end; Run connects.
func New(cfg Config, st Store, log *slog.Logger) (*HQ, error) {
	if cfg.MaxBatches <= 0 {
		cfg.MaxBatches = 64
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CommandTTL <= 0 {
		cfg.CommandTTL = 10 * time.Minute
	}
	h := &HQ{cfg: cfg, st: st, log: log, in: make(chan inbound, 256), acks: make(chan outbound, 1024), audits: make(chan auditIn, 64)}
	var err error
	h.conn, err = mqttconn.New(cfg.MQTT, log)
	if err != nil {
		return nil, fmt.Errorf("hqsync: %w", err)
	}
	return h, nil
}

// Connected reports whether HQ is connected to the broker.
func (h *HQ) Connected() bool { return h.conn.Connected() }

// Run subscribes, connects and serves until ctx ends.
func (h *HQ) Run(ctx context.Context) error {
	subs := []struct {
		filter string
		h      func(context.Context, mqttconn.Message)
	}{
		{wire.Shared(h.cfg.Group, wire.AllBoxesFilter(wire.KindCheckins)), h.onBatch},
		{wire.Shared(h.cfg.Group, wire.AllBoxesFilter(wire.KindManifestReq)), h.onManifestRequest},
		{wire.AllBoxesFilter(wire.KindState), h.onState},
	}
	if h.cfg.Audit != nil {
		subs = append(subs, struct {
			filter string
			h      func(context.Context, mqttconn.Message)
		}{wire.Shared(h.cfg.Group, wire.AllBoxesFilter(wire.KindAudit)), h.onAudit})
	}
	for _, s := range subs {
		f := s.h
		if err := h.conn.Subscribe(s.filter, 1, func(m mqttconn.Message) { f(ctx, m) }); err != nil {
			return fmt.Errorf("hqsync: %w", err)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ingestLoop(ctx)
	}()
	ackDone := make(chan struct{})
	go func() {
		defer close(ackDone)
		h.ackLoop(ctx)
	}()
	auditDone := make(chan struct{})
	go func() {
		defer close(auditDone)
		if h.cfg.Audit != nil {
			h.auditLoop(ctx)
		}
	}()
	err := h.conn.Run(ctx)
	<-done
	<-ackDone
	<-auditDone
	return err
}

func (h *HQ) onBatch(ctx context.Context, m mqttconn.Message) {
	t, err := wire.ParseTopic(m.Topic)
	if err != nil {
		h.log.Warn("batch on bad topic refused", "topic", m.Topic, "err", err)
		return
	}
	var b wire.Batch
	if err := wire.Decode(m.Payload, &b); err != nil {
		h.log.Warn("batch refused", "topic", m.Topic, "bytes", len(m.Payload), "err", err)
		return
	}
	if b.Box != t.Box {
		h.log.Warn("batch refused: box differs from topic", "topic", m.Topic, "box", b.Box)
		return
	}
	select {
	case h.in <- inbound{t, b}:
	case <-ctx.Done():
	}
}

// ingestLoop stores batches, several per transaction, and queues acks.
func (h *HQ) ingestLoop(ctx context.Context) {
	for {
		var first inbound
		select {
		case <-ctx.Done():
			return
		case first = <-h.in:
		}
		group := []inbound{first}
	more:
		for len(group) < h.cfg.MaxBatches {
			select {
			case x := <-h.in:
				group = append(group, x)
			default:
				break more
			}
		}
		h.ingest(ctx, group)
	}
}

func (h *HQ) ingest(ctx context.Context, group []inbound) {
	now := h.cfg.Now()
	var cs []hqstore.CheckIn
	for _, x := range group {
		for _, c := range x.batch.CheckIns {
			cs = append(cs, hqstore.CheckIn{Nonce: c.Nonce, Org: x.topic.Org, Venue: x.topic.Venue, Box: c.Box,
				Gate: c.Gate, Boot: c.Boot, Seq: c.Seq, Event: c.Event, Ticket: c.Ticket, Verdict: c.Verdict,
				Reason: c.Reason, At: c.At, TempC: c.TempC, Input: c.Input, Staff: c.Staff, Note: c.Note,
				Historical: x.batch.Historical, Received: now})
		}
	}
	res, err := h.st.Ingest(cs)
	if err != nil {
		// No ack: the boxes keep the check-ins and send them again.
		h.log.Error("ingest failed", "checkins", len(cs), "err", err)
		return
	}
	for _, k := range res.Conflicts {
		h.log.Warn("conflict: ticket admitted at more than one gate", "event", k.Event, "ticket", k.Ticket)
	}
	now = h.cfg.Now()
	for _, x := range group {
		a := wire.Ack{V: wire.Version, Box: x.batch.Box, Echo: x.batch.Sent, HQTime: now}
		for _, c := range x.batch.CheckIns {
			a.Nonces = append(a.Nonces, c.Nonce)
		}
		for _, g := range res.Gaps[x.batch.Box] {
			a.Missing = append(a.Missing, wire.Range{Boot: g.Boot, From: g.From, To: g.To})
		}
		topic := wire.BoxTopic(x.topic.Org, x.topic.Venue, x.batch.Box, wire.KindAck)
		select {
		case h.acks <- outbound{topic, a}:
		case <-ctx.Done():
			return
		}
	}
}

func (h *HQ) ackLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-h.acks:
			raw, err := wire.Encode(&o.ack)
			if err != nil {
				h.log.Error("ack not encoded", "box", o.ack.Box, "err", err)
				continue
			}
			// An ack that does not reach the box is not lost work: the box
			// sends the batch again and HQ acknowledges the duplicate.
			if err := h.conn.Publish(ctx, mqttconn.Message{Topic: o.topic, Payload: raw, QoS: 1}); err != nil && !errors.Is(err, context.Canceled) {
				h.log.Debug("ack not sent", "box", o.ack.Box, "err", err)
			}
		}
	}
}

func (h *HQ) onState(_ context.Context, m mqttconn.Message) {
	t, err := wire.ParseTopic(m.Topic)
	if err != nil {
		h.log.Warn("state on bad topic refused", "topic", m.Topic, "err", err)
		return
	}
	if len(m.Payload) == 0 {
		return // a cleared retained message
	}
	var s wire.State
	if err := wire.Decode(m.Payload, &s); err != nil || s.Box != t.Box {
		h.log.Warn("state refused", "topic", m.Topic, "err", wire.Refusal(err, s.Box, t.Box))
		return
	}
	now := h.cfg.Now()
	err = h.st.UpdateBox(t.Box, func(b *hqstore.Box) {
		b.Org, b.Venue = t.Org, t.Venue
		if !s.Online {
			// A will from an older connection must not mark a box that
			// has since come back as offline.
			if s.Session >= b.Session {
				b.Online = false
			}
			return
		}
		if s.Session < b.Session {
			return
		}
		b.Online, b.Session, b.LastSeen = true, s.Session, now
		b.Queued, b.Manifests, b.Software, b.OffsetMS = s.Queued, s.Manifests, s.Software, s.OffsetMS
	})
	if err != nil {
		h.log.Error("fleet state not stored", "box", t.Box, "err", err)
	}
}

// Drifting reports whether a box's clock is off HQ's by more than DriftLimit.
func Drifting(b hqstore.Box) bool {
	off := time.Duration(b.OffsetMS) * time.Millisecond
	return off > DriftLimit || off < -DriftLimit
}

func (h *HQ) onManifestRequest(ctx context.Context, m mqttconn.Message) {
	t, err := wire.ParseTopic(m.Topic)
	if err != nil {
		h.log.Warn("manifest request on bad topic refused", "topic", m.Topic, "err", err)
		return
	}
	var r wire.ManifestRequest
	if err := wire.Decode(m.Payload, &r); err != nil || r.Box != t.Box {
		h.log.Warn("manifest request refused", "topic", m.Topic, "err", wire.Refusal(err, r.Box, t.Box))
		return
	}
	if h.cfg.Manifests == nil {
		return
	}
	ms, err := h.cfg.Manifests.Manifests(t.Org, t.Venue, r.Have)
	if err != nil {
		h.log.Error("manifests not found", "box", t.Box, "err", err)
		return
	}
	topic := wire.BoxTopic(t.Org, t.Venue, t.Box, wire.KindManifest)
	for _, mf := range ms {
		from := 0
		if r.Resume != nil && r.Resume.Event == mf.Event && r.Resume.Version == mf.Version {
			from = r.Resume.Next
		}
		if err := h.sendManifest(ctx, topic, mf, from); err != nil {
			h.log.Warn("manifest not sent", "box", t.Box, "event", mf.Event, "err", err)
			return
		}
	}
}

func (h *HQ) sendManifest(ctx context.Context, topic string, mf Manifest, from int) error {
	chunks, err := wire.Split(mf.Event, mf.Version, mf.Base, mf.Raw)
	if err != nil {
		return fmt.Errorf("hqsync: manifest: %w", err)
	}
	for i := from; i < len(chunks); i++ {
		raw, err := wire.Encode(&chunks[i])
		if err != nil {
			return fmt.Errorf("hqsync: manifest: %w", err)
		}
		if err := h.conn.Publish(ctx, mqttconn.Message{Topic: topic, Payload: raw, QoS: 1}); err != nil {
			return fmt.Errorf("hqsync: manifest: %w", err)
		}
	}
	return nil
}

// PublishManifest broadcasts a new manifest (snapshot or delta) to every
// box at a venue. A box that is offline asks for it when it reconnects.
func (h *HQ) PublishManifest(ctx context.Context, org, venue string, mf Manifest) error {
	return h.sendManifest(ctx, wire.VenueTopic(org, venue, wire.KindManifest), mf, 0)
}

// Revoke sends the revocation fast path to every box at a venue; the next
// manifest delta must carry the same revocation for boxes that are offline.
func (h *HQ) Revoke(ctx context.Context, org, venue, event string, tickets ...string) error {
	if h.cfg.Sign == nil {
		return errors.New("hqsync: revoke: no signing key")
	}
	now := h.cfg.Now()
	r := wire.Revocation{Event: event, Tickets: tickets, At: now, Expires: now.Add(h.cfg.CommandTTL), Key: h.cfg.SignKey}
	r.Sig = h.cfg.Sign(r.SignedBytes())
	raw, err := wire.Encode(&r)
	if err != nil {
		return fmt.Errorf("hqsync: revoke: %w", err)
	}
	if err := h.conn.Publish(ctx, mqttconn.Message{Topic: wire.VenueTopic(org, venue, wire.KindRevoke), Payload: raw, QoS: 1}); err != nil {
		return fmt.Errorf("hqsync: revoke: %w", err)
	}
	return nil
}
