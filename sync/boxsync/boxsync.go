// Package boxsync is a venue box's end of the sync protocol
// (sync/PROTOCOL.md). The box's own outbox is the only truth: check-ins go
// up in bounded QoS 1 batches and leave the outbox only when HQ's
// acknowledgement for them arrives, never on the broker's PUBACK. New
// decisions go up at once (Kick) while a backlog drains, oldest first and
// marked historical. The same batches reach the other gates of the venue,
// which record them as peer check-ins, so a ticket used at one gate is
// already used at the next. Manifests come down in chunks, are reassembled,
// versioned and resumed here, and handed to the application, which verifies
// HQ's signature and applies them; revocations take a fast path. The box
// publishes a retained birth message with its state, and its last will
// marks it offline.
package boxsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"venuebox/sync/mqttconn"
	"venuebox/sync/wire"
)

// A CheckIn is a recorded decision as the box's store holds it.
type CheckIn = wire.CheckIn

// Store is what sync needs from the box's store.
type Store interface {
	// Pending returns up to limit check-ins not yet acknowledged by HQ,
	// oldest first, leaving out (without reading them) those whose nonce
	// skip reports; skip may be nil.
	Pending(limit int, skip func(nonce string) bool) ([]CheckIn, error)
	// Ack removes acknowledged check-ins from the outbox.
	Ack(nonces ...string) error
	// Queued counts the check-ins in the outbox.
	Queued() (int, error)
	// AddPeer records a check-in made at another gate; it reports whether
	// the check-in was new.
	AddPeer(c CheckIn) (bool, error)
	// Revoke marks tickets of an event as revoked.
	Revoke(event string, ids ...string) error
	// ManifestVersions maps each event to the manifest version applied.
	ManifestVersions() (map[string]uint64, error)
}

// ApplyFunc verifies a complete signed manifest (snapshot or delta) and
// applies it to the store; an error refuses it.
type ApplyFunc func(raw []byte) error

// Config configures a box's sync.
type Config struct {
	// Org, Venue and Box name the box; they are its topic levels.
	Org, Venue, Box string
	// MQTT is the connection; ClientID defaults to Org/Venue/Box. Its Will, Birth,
	// Goodbye and connection hooks are set by New.
	MQTT mqttconn.Config
	// Software is the version reported in the birth message.
	Software string
	// BatchSize caps check-ins per message (default 200, at most
	// wire.MaxBatch); Window caps check-ins sent but not yet acknowledged
	// (default 2000).
	BatchSize, Window int
	// ResendAfter is how long an unacknowledged check-in waits before it
	// is sent again (default 5 s).
	ResendAfter time.Duration
	// OfflineAfter is how many connection failures in a row make the box
	// report itself offline (default 3).
	OfflineAfter int
	// StateEvery is how often the birth message is refreshed (default 10 s).
	StateEvery time.Duration
	// Verify checks HQ's signature on a command (a revocation) made with
	// the key named key; nil refuses every command.
	Verify func(key string, msg, sig []byte) bool
	// Now is the box's clock; nil means time.Now.
	Now func() time.Time
	// Audit is the box's audit log, uploaded for HQ to verify; nil
	// uploads none.
	Audit AuditLog
}

// Sync is a box's end of sync.
type Sync struct {
	cfg   Config
	st    Store
	log   *slog.Logger
	apply ApplyFunc
	conn  *mqttconn.Conn

	kick   chan struct{}
	acks   chan wire.Ack
	chunks chan wire.ManifestChunk
	live   chan []CheckIn

	auditAcks chan wire.Ack // acks that carry HQ's audit mark
	auditUp   chan struct{} // a new connection: ask HQ for its mark

	session     atomic.Uint64
	upSince     atomic.Int64 // unix nanos of the current connection, 0 when down
	failures    atomic.Int32
	lastSync    atomic.Int64
	offset      atomic.Int64
	connectedCh chan struct{}

	mu       sync.Mutex
	inflight map[string]time.Time
}

// New prepares the box's sync; Run connects.
func New(cfg Config, st Store, log *slog.Logger, apply ApplyFunc) (*Sync, error) {
	for _, id := range []string{cfg.Org, cfg.Venue, cfg.Box} {
		if err := wire.ValidID(id); err != nil {
			return nil, fmt.Errorf("boxsync: %w", err)
		}
	}
	if cfg.BatchSize <= 0 || cfg.BatchSize > wire.MaxBatch {
		cfg.BatchSize = 200
	}
	if cfg.Window <= 0 {
		cfg.Window = 2000
	}
	if cfg.ResendAfter <= 0 {
		cfg.ResendAfter = 5 * time.Second
	}
	if cfg.OfflineAfter <= 0 {
		cfg.OfflineAfter = 3
	}
	if cfg.StateEvery <= 0 {
		cfg.StateEvery = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MQTT.ClientID == "" {
		// Box ids repeat across venues; client ids must not on one broker.
		cfg.MQTT.ClientID = cfg.Org + "/" + cfg.Venue + "/" + cfg.Box
	}
	s := &Sync{cfg: cfg, st: st, log: log.With("box", cfg.Box), apply: apply,
		kick: make(chan struct{}, 1), acks: make(chan wire.Ack, 64), chunks: make(chan wire.ManifestChunk, 64),
		live: make(chan []CheckIn, 256), connectedCh: make(chan struct{}, 1), inflight: map[string]time.Time{},
		auditAcks: make(chan wire.Ack, 16), auditUp: make(chan struct{}, 1)}
	s.session.Store(uint64(cfg.Now().UnixNano()))
	s.failures.Store(int32(cfg.OfflineAfter)) // offline until first connected
	state := s.topic(wire.KindState)
	cfg.MQTT.Will = func() *mqttconn.Message {
		raw, _ := wire.Encode(&wire.State{Box: cfg.Box, Online: false, Session: s.session.Add(1), At: cfg.Now()}) // cannot fail: fixed valid fields
		return &mqttconn.Message{Topic: state, Payload: raw, QoS: 1, Retained: true}
	}
	cfg.MQTT.Birth = func() *mqttconn.Message { return s.stateMessage(true) }
	cfg.MQTT.Goodbye = func() *mqttconn.Message { return s.stateMessage(false) }
	cfg.MQTT.OnConnect = func() {
		s.upSince.Store(cfg.Now().UnixNano())
		s.failures.Store(0)
		select {
		case s.connectedCh <- struct{}{}:
		default:
		}
		select {
		case s.auditUp <- struct{}{}:
		default:
		}
		s.Kick()
	}
	cfg.MQTT.OnLost = func(error) { s.upSince.Store(0); s.failures.Add(1) }
	cfg.MQTT.OnConnectFailed = func(error) { s.failures.Add(1) }
	var err error
	s.conn, err = mqttconn.New(cfg.MQTT, log)
	if err != nil {
		return nil, fmt.Errorf("boxsync: %w", err)
	}
	return s, nil
}

func (s *Sync) topic(k wire.Kind) string { return wire.BoxTopic(s.cfg.Org, s.cfg.Venue, s.cfg.Box, k) }

func (s *Sync) stateMessage(online bool) *mqttconn.Message {
	st := wire.State{Box: s.cfg.Box, Online: online, Session: s.session.Load(), Software: s.cfg.Software,
		OffsetMS: s.ClockOffset().Milliseconds(), At: s.cfg.Now()}
	if online {
		var err error
		if st.Manifests, err = s.st.ManifestVersions(); err != nil {
			s.log.Warn("manifest versions unknown", "err", err)
		}
		if st.Queued, err = s.st.Queued(); err != nil {
			s.log.Warn("queue length unknown", "err", err)
		}
	}
	raw, err := wire.Encode(&st)
	if err != nil {
		s.log.Error("state not encoded", "err", err)
		return nil
	}
	return &mqttconn.Message{Topic: s.topic(wire.KindState), Payload: raw, QoS: 1, Retained: true}
}

// Online reports whether the box reaches the broker, damped: it turns false
// only after OfflineAfter connection failures in a row, so one dropped
// connection that comes straight back does not flash "HQ offline".
func (s *Sync) Online() bool {
	return s.conn.Connected() || int(s.failures.Load()) < s.cfg.OfflineAfter
}

// LastSync returns when HQ last acknowledged check-ins (zero: never).
func (s *Sync) LastSync() time.Time {
	n := s.lastSync.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// ClockOffset returns HQ's clock minus the box's, measured at the last
// acknowledgement (zero until then).
func (s *Sync) ClockOffset() time.Duration { return time.Duration(s.offset.Load()) }

// Kick makes sync send at once. Check-ins passed (just recorded in the
// outbox) go up ahead of any backlog, and to the venue's other gates; with
// none, Kick only wakes the sender. It never blocks.
func (s *Sync) Kick(cs ...CheckIn) {
	if len(cs) > 0 {
		select {
		case s.live <- cs:
		default: // the outbox has them; the backlog path sends them
		}
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run connects and syncs until ctx ends.
func (s *Sync) Run(ctx context.Context) error {
	subs := []struct {
		filter string
		h      func(context.Context, mqttconn.Message)
	}{
		{s.topic(wire.KindAck), s.onAck},
		{wire.VenueBoxesFilter(s.cfg.Org, s.cfg.Venue, wire.KindCheckins), s.onPeer},
		{s.topic(wire.KindManifest), s.onChunk},
		{wire.VenueTopic(s.cfg.Org, s.cfg.Venue, wire.KindManifest), s.onChunk},
		{wire.VenueTopic(s.cfg.Org, s.cfg.Venue, wire.KindRevoke), s.onRevoke},
	}
	for _, sb := range subs {
		f := sb.h
		if err := s.conn.Subscribe(sb.filter, 1, func(m mqttconn.Message) { f(ctx, m) }); err != nil {
			return fmt.Errorf("boxsync: %w", err)
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.sendLoop(ctx) }()
	go func() { defer wg.Done(); s.manifestLoop(ctx) }()
	if s.cfg.Audit != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.auditLoop(ctx) }()
	}
	err := s.conn.Run(ctx)
	wg.Wait()
	return err
}

func (s *Sync) onAck(ctx context.Context, m mqttconn.Message) {
	var a wire.Ack
	if err := wire.Decode(m.Payload, &a); err != nil || a.Box != s.cfg.Box {
		s.log.Warn("ack refused", "err", wire.Refusal(err, a.Box, s.cfg.Box))
		return
	}
	if a.Audit != nil {
		select {
		case s.auditAcks <- a:
		default: // the audit loop is behind; the next ack carries the mark again
		}
		if len(a.Nonces) == 0 && len(a.Missing) == 0 {
			return
		}
	}
	select {
	case s.acks <- a:
	case <-ctx.Done():
	}
}

func (s *Sync) onPeer(_ context.Context, m mqttconn.Message) {
	t, err := wire.ParseTopic(m.Topic)
	if err != nil {
		s.log.Warn("peer batch on bad topic refused", "topic", m.Topic, "err", err)
		return
	}
	if t.Box == s.cfg.Box {
		return // this box's own batch
	}
	var b wire.Batch
	if err := wire.Decode(m.Payload, &b); err != nil || b.Box != t.Box {
		s.log.Warn("peer batch refused", "topic", m.Topic, "err", wire.Refusal(err, b.Box, t.Box))
		return
	}
	for _, c := range b.CheckIns {
		if c.Verdict != "admitted" && c.Reason != "undo" {
			continue // only admissions and their undoing matter to other gates
		}
		if _, err := s.st.AddPeer(c); err != nil {
			s.log.Error("peer check-in not recorded", "peer", b.Box, "err", err)
		}
	}
}

func (s *Sync) onRevoke(_ context.Context, m mqttconn.Message) {
	var r wire.Revocation
	if err := wire.Decode(m.Payload, &r); err != nil {
		s.log.Warn("revocation refused", "err", err)
		return
	}
	if s.cfg.Verify == nil || !s.cfg.Verify(r.Key, r.SignedBytes(), r.Sig) {
		s.log.Warn("revocation refused: signature does not verify", "event", r.Event, "key", r.Key)
		return
	}
	if s.cfg.Now().After(r.Expires) {
		s.log.Warn("revocation refused: expired", "event", r.Event, "expires", r.Expires)
		return
	}
	if err := s.st.Revoke(r.Event, r.Tickets...); err != nil {
		s.log.Error("revocation not recorded", "event", r.Event, "err", err)
		return
	}
	s.log.Info("tickets revoked", "event", r.Event, "count", len(r.Tickets))
}

func (s *Sync) onChunk(ctx context.Context, m mqttconn.Message) {
	var c wire.ManifestChunk
	if err := wire.Decode(m.Payload, &c); err != nil {
		s.log.Warn("manifest chunk refused", "err", err)
		return
	}
	select {
	case s.chunks <- c:
	case <-ctx.Done():
	}
}

// sendLoop owns the in-flight set: it sends live check-ins and the
// backlog, and removes acknowledged ones from the outbox.
func (s *Sync) sendLoop(ctx context.Context) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	lastState := s.cfg.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case a := <-s.acks:
			s.handleAcks(a)
		case cs := <-s.live:
			s.sendLive(ctx, cs)
		case <-tick.C:
			if s.conn.Connected() && s.cfg.Now().Sub(lastState) >= s.cfg.StateEvery {
				lastState = s.cfg.Now()
				if m := s.stateMessage(true); m != nil {
					if err := s.conn.Publish(ctx, *m); err != nil {
						s.log.Debug("state not published", "err", err)
					}
				}
			}
		}
		s.pump(ctx)
	}
}

func (s *Sync) handleAcks(first wire.Ack) {
	acks := []wire.Ack{first}
	for len(acks) < 64 {
		select {
		case a := <-s.acks:
			acks = append(acks, a)
			continue
		default:
		}
		break
	}
	now := s.cfg.Now()
	var nonces []string
	var missing []wire.Range
	for _, a := range acks {
		nonces = append(nonces, a.Nonces...)
		missing = append(missing, a.Missing...)
		if !a.Echo.IsZero() {
			mid := a.Echo.Add(now.Sub(a.Echo) / 2)
			s.offset.Store(int64(a.HQTime.Sub(mid)))
		}
	}
	if err := s.st.Ack(nonces...); err != nil {
		s.log.Error("acknowledged check-ins not removed", "err", err)
		return
	}
	s.lastSync.Store(now.UnixNano())
	s.mu.Lock()
	for _, n := range nonces {
		delete(s.inflight, n)
	}
	s.mu.Unlock()
	if len(missing) > 0 {
		s.resendMissing(missing)
	}
}

// resendMissing makes check-ins HQ reports missing eligible for sending
// again if they were sent more than a moment ago (a batch overtaken by a
// later one is not lost).
func (s *Sync) resendMissing(missing []wire.Range) {
	// Only check-ins sent before cut become eligible again; a batch HQ
	// merely took after a later one (it decodes them concurrently) is
	// younger, and then the outbox need not be read at all.
	cut := s.cfg.Now().Add(-time.Second)
	s.mu.Lock()
	old := false
	for _, t := range s.inflight {
		if t.Before(cut) {
			old = true
			break
		}
	}
	s.mu.Unlock()
	if !old {
		return
	}
	pend, err := s.st.Pending(s.cfg.Window, nil)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range pend {
		for _, r := range missing {
			if c.Boot == r.Boot && c.Seq >= r.From && c.Seq <= r.To {
				if t, ok := s.inflight[c.Nonce]; ok && t.Before(cut) {
					delete(s.inflight, c.Nonce)
				}
			}
		}
	}
}

func (s *Sync) sendLive(ctx context.Context, cs []CheckIn) {
	// pump may have sent them from the outbox already.
	now := s.cfg.Now()
	s.mu.Lock()
	fresh := cs[:0:0]
	for _, c := range cs {
		if t, ok := s.inflight[c.Nonce]; !ok || now.Sub(t) >= s.cfg.ResendAfter {
			fresh = append(fresh, c)
		}
	}
	s.mu.Unlock()
	for more := fresh; len(more) > 0; {
		n := min(len(more), s.cfg.BatchSize)
		if err := s.send(ctx, more[:n], false); err != nil {
			return
		}
		more = more[n:]
	}
}

// pump sends what the outbox holds that is not in flight, oldest first,
// until the window is full.
func (s *Sync) pump(ctx context.Context) {
	if !s.conn.Connected() {
		return
	}
	now := s.cfg.Now()
	s.mu.Lock()
	room := s.cfg.Window - len(s.inflight)
	due := false
	for _, t := range s.inflight {
		if now.Sub(t) >= s.cfg.ResendAfter {
			due = true
			break
		}
	}
	s.mu.Unlock()
	if room < s.cfg.BatchSize && !due {
		return
	}
	// Check-ins in flight and not yet due are skipped unread.
	inFlight := func(nonce string) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		t, ok := s.inflight[nonce]
		return ok && now.Sub(t) < s.cfg.ResendAfter
	}
	pend, err := s.st.Pending(max(room, s.cfg.BatchSize), inFlight)
	if err != nil {
		s.log.Error("outbox not readable", "err", err)
		return
	}
	up := time.Unix(0, s.upSince.Load())
	var hist, fresh []CheckIn
	for _, c := range pend {
		if c.At.Before(up) {
			hist = append(hist, c)
		} else {
			fresh = append(fresh, c)
		}
	}
	for _, part := range []struct {
		cs   []CheckIn
		hist bool
	}{{fresh, false}, {hist, true}} {
		for cs := part.cs; len(cs) > 0; {
			n := min(len(cs), s.cfg.BatchSize)
			if err := s.send(ctx, cs[:n], part.hist); err != nil {
				return
			}
			cs = cs[n:]
		}
	}
}

func (s *Sync) send(ctx context.Context, cs []CheckIn, historical bool) error {
	b := wire.Batch{Box: s.cfg.Box, Historical: historical, Sent: s.cfg.Now(), CheckIns: cs}
	raw, err := wire.Encode(&b)
	if errors.Is(err, wire.ErrTooLarge) && len(cs) > 1 {
		half := len(cs) / 2
		if err := s.send(ctx, cs[:half], historical); err != nil {
			return err
		}
		return s.send(ctx, cs[half:], historical)
	}
	if err != nil {
		// A check-in that cannot be encoded would block the outbox
		// forever; the store's validation should make this impossible.
		s.log.Error("check-ins not encodable", "first_seq", cs[0].Seq, "err", err)
		return err
	}
	s.mu.Lock()
	for _, c := range cs {
		s.inflight[c.Nonce] = b.Sent
	}
	s.mu.Unlock()
	if err := s.conn.Publish(ctx, mqttconn.Message{Topic: s.topic(wire.KindCheckins), Payload: raw, QoS: 1}); err != nil {
		s.mu.Lock()
		for _, c := range cs {
			delete(s.inflight, c.Nonce)
		}
		s.mu.Unlock()
		return err
	}
	return nil
}

// manifestLoop reassembles chunks, hands complete manifests to apply, and
// asks HQ for what the box lacks after each connect and after a gap.
func (s *Sync) manifestLoop(ctx context.Context) {
	var asm wire.Assembler
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.connectedCh:
			s.requestManifests(ctx, &asm)
		case c := <-s.chunks:
			have, err := s.st.ManifestVersions()
			if err != nil {
				s.log.Error("manifest versions unknown", "err", err)
				continue
			}
			if c.Version <= have[c.Event] {
				continue // already applied
			}
			if c.Base != 0 && c.Base != have[c.Event] {
				// A delta on a version the box lacks: ask for the gap.
				s.log.Info("manifest gap", "event", c.Event, "have", have[c.Event], "delta_base", c.Base)
				asm.Drop(c.Event)
				s.requestManifests(ctx, &asm)
				continue
			}
			raw, err := asm.Add(c)
			if err != nil {
				s.log.Warn("manifest refused", "event", c.Event, "version", c.Version, "err", err)
				continue
			}
			if raw == nil {
				continue
			}
			if err := s.apply(raw); err != nil {
				s.log.Warn("manifest refused", "event", c.Event, "version", c.Version, "err", err)
				continue
			}
			s.log.Info("manifest applied", "event", c.Event, "version", c.Version, "base", c.Base, "bytes", len(raw))
		}
	}
}

func (s *Sync) requestManifests(ctx context.Context, asm *wire.Assembler) {
	have, err := s.st.ManifestVersions()
	if err != nil {
		s.log.Error("manifest versions unknown", "err", err)
		return
	}
	r := wire.ManifestRequest{Box: s.cfg.Box, Have: have}
	for _, ev := range asm.Events() {
		if res, ok := asm.Pending(ev); ok {
			r.Resume = &res
			break
		}
	}
	raw, err := wire.Encode(&r)
	if err != nil {
		s.log.Error("manifest request not encoded", "err", err)
		return
	}
	if err := s.conn.Publish(ctx, mqttconn.Message{Topic: s.topic(wire.KindManifestReq), Payload: raw, QoS: 1}); err != nil {
		s.log.Debug("manifest request not sent", "err", err)
	}
}
