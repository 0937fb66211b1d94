// Package box is the box application: it takes what the devices read,
// decides through gate with what the store holds, records the decision in
// the store before anything is shown, then signals it, streams it to the
// kiosk screen and leaves it in the outbox for HQ.
package box

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/gate"
	"venuebox/cmd/internal/manifest"
	"venuebox/cmd/internal/ticket"
	"venuebox/device"
	"venuebox/store"
)

// MaxInput caps the bytes of one scanned input; anything longer is
// unreadable. A venuebox code is at most ticket.MaxLen characters.
const MaxInput = 512

// Kind says what was presented.
type Kind int

// Kinds of input.
const (
	Code Kind = iota // a QR or bar code, typed in or scanned
	Card             // a member card UID
)

// Options configure a Box.
type Options struct {
	Store  *store.Store
	Trust  *ticket.Keyring
	Zone   string // the gate's zone; "" is a main entrance
	Policy gate.Policy
	Log    *slog.Logger
	// Signal shows verdicts at the gate; nil for none.
	Signal device.Signal
	// Thermometer, when set, is read with each scan.
	Thermometer device.Thermometer
	// Now is the wall clock; nil means time.Now.
	Now func() time.Time
	// Recorded, when set, is told of each check-in once it is on disk
	// (sync sends it up at once); it must not block.
	Recorded func(store.CheckIn)
	// Online, when set, says whether HQ is reachable; nil means never.
	Online func() bool
	// LastSync, when set, says when HQ last acknowledged check-ins (zero:
	// never), for the kiosk's status.
	LastSync func() time.Time
	// Staff says who may log in at the kiosk; with no PINs and no cards,
	// staff mode is off.
	Staff config.Staff
}

// Box decides and records the scans of one gate.
type Box struct {
	opts    Options
	id      store.Identity
	started time.Time // the monotonic origin of Mono
	log     *slog.Logger
	events  atomic.Pointer[[]store.Event]
	stream  hub

	mu      sync.Mutex
	devices map[string]string // name → state
	// recent is the last decision on each input this boot, by input
	// hash, for the double-scan window (it never spans a restart: the
	// window is measured on this boot's monotonic clock).
	recentMu sync.Mutex
	recent   map[string]gate.Use

	staff     staffGate     // staff logins and sessions (staff.go)
	manifests manifestClock // when manifests were applied (kiosk.go)
}

// maxRecent bounds the double-scan memory; past it, entries older than
// the window are dropped.
const maxRecent = 4096

// New returns a box over an open store.
func New(opts Options) (*Box, error) {
	if opts.Store == nil || opts.Trust == nil {
		return nil, fmt.Errorf("box: a store and trusted keys are required")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	b := &Box{opts: opts, id: opts.Store.Identity(), started: time.Now(), log: opts.Log, devices: map[string]string{}, recent: map[string]gate.Use{}}
	if err := b.reloadEvents(); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Box) reloadEvents() error {
	evs, err := b.opts.Store.Events()
	if err != nil {
		return fmt.Errorf("box: events: %w", err)
	}
	b.events.Store(&evs)
	return nil
}

// ApplyManifest verifies a signed manifest against the trusted keys and
// applies it to the store.
func (b *Box) ApplyManifest(raw []byte) error {
	m, err := manifest.Parse(raw, b.opts.Trust)
	if err != nil {
		return fmt.Errorf("box: manifest: %w", err)
	}
	if err := b.opts.Store.ApplyManifest(toStore(m)); err != nil {
		return err
	}
	b.log.Info("manifest applied", "event", m.Event.ID, "kind", m.Kind, "version", m.Version, "tickets", len(m.Tickets))
	return b.reloadEvents()
}

// Verdict is a decision as the screen and the API show it. It holds only
// masked personal data.
type Verdict struct {
	Verdict     string    `json:"verdict"`
	Reason      string    `json:"reason"`
	Ticket      string    `json:"ticket"`
	Event       string    `json:"event,omitempty"`
	EventName   string    `json:"event_name,omitempty"`
	At          time.Time `json:"at"`
	Gate        string    `json:"gate"`
	Nonce       string    `json:"nonce,omitempty"`
	Repeat      bool      `json:"repeat,omitempty"`
	Name        string    `json:"name,omitempty"`  // masked
	Phone       string    `json:"phone,omitempty"` // masked
	MemberLevel string    `json:"member_level,omitempty"`
	Class       string    `json:"class,omitempty"`
	Zone        string    `json:"zone,omitempty"`
	Benefit     string    `json:"benefit,omitempty"`
	TempC       *float64  `json:"temp_c,omitempty"`
	// PriorAt and PriorGate say when and where the ticket was first
	// admitted, for already-used and reentry.
	PriorAt   *time.Time `json:"prior_at,omitempty"`
	PriorGate string     `json:"prior_gate,omitempty"`
}

// Present decides what was presented, records it, then signals and
// streams it. The returned verdict is on disk.
func (b *Box) Present(ctx context.Context, kind Kind, input string) (Verdict, error) {
	var tempC *float64
	if th := b.opts.Thermometer; th != nil {
		tctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		c, err := th.Temperature(tctx)
		cancel()
		if err != nil {
			b.log.Warn("temperature not measured", "dev", th.String(), "err", err)
			b.SetDevice("thermometer", "down")
		} else {
			tempC = &c
			b.SetDevice("thermometer", "up")
		}
	}
	return b.decide(kind, input, tempC, nil)
}

// Unreadable records a scan the device could not read as a code.
func (b *Box) Unreadable(raw string) (Verdict, error) {
	return b.decide(Code, raw, nil, &gate.Ticket{Problem: gate.Unreadable})
}

// decide resolves the input, admits it through the store and shows it.
// problem, when set, skips resolution.
func (b *Box) decide(kind Kind, input string, tempC *float64, problem *gate.Ticket) (Verdict, error) {
	p := store.Presented{Input: []byte(input), Gate: b.id.Box, TempC: tempC}
	mono := time.Since(b.started)
	var known gate.Ticket
	switch {
	case problem != nil:
		known = *problem
	case !readable(input):
		known.Problem = gate.Unreadable
	case kind == Card:
		uid := ticket.NormalizeUID(input)
		p.Input = []byte(uid)
		p.CardHash = func(key []byte) string { return ticket.CardHash(key, uid) }
	case ticket.IsSigned(input):
		known = b.resolveSigned(input, &p)
	default:
		p.CodeHash = ticket.CodeHash(input)
	}
	now := b.opts.Now()
	scan := gate.Scan{Gate: b.id.Box, Zone: b.opts.Zone, Now: now, Boot: b.opts.Store.Boot(), Mono: mono, TempC: tempC}
	inputHash := store.InputHash(p.Input)
	var decision gate.Decision
	res, err := b.opts.Store.Admit(p, func(f store.Found) store.Outcome {
		h := historyOf(f)
		b.recentMu.Lock()
		defer b.recentMu.Unlock()
		if last, ok := b.recent[inputHash]; ok {
			h.LastHere = &last
		}
		decision = gate.Decide(ticketFor(known, f, p.CodeHash), h, b.opts.Policy, scan)
		if !decision.Repeat {
			b.remember(inputHash, gate.Use{At: decision.At, Gate: scan.Gate, Verdict: decision.Verdict, Reason: decision.Reason, Boot: scan.Boot, Mono: mono})
		}
		return store.Outcome{Verdict: decision.Verdict.String(), Reason: string(decision.Reason), At: decision.At, Repeat: decision.Repeat}
	})
	if err != nil {
		// Not recorded, so not to be repeated either.
		b.recentMu.Lock()
		delete(b.recent, inputHash)
		b.recentMu.Unlock()
		b.log.Error("decision not recorded", "input", ticket.LogID(input), "err", err)
		return Verdict{}, err
	}
	v := b.view(res, decision)
	b.log.Info("decision", "verdict", v.Verdict, "reason", v.Reason, "ticket", v.Ticket, "event", v.Event,
		"input", ticket.LogID(input), "repeat", v.Repeat, "seq", res.CheckIn.Seq)
	if s := b.opts.Signal; s != nil {
		s.Show(v.Verdict)
	}
	if !res.Repeat && b.opts.Recorded != nil {
		b.opts.Recorded(res.CheckIn)
	}
	b.stream.publish(v)
	return v, nil
}

// readable reports whether input can be a code or a UID: bounded, valid
// UTF-8, no control characters.
func readable(input string) bool {
	if input == "" || len(input) > MaxInput || !utf8.ValidString(input) {
		return false
	}
	for _, r := range input {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// resolveSigned verifies a signed code and names its event among the
// box's events; what it cannot resolve becomes the ticket's problem.
func (b *Box) resolveSigned(code string, p *store.Presented) gate.Ticket {
	parsed, err := b.opts.Trust.Verify(code)
	if err != nil {
		return gate.Ticket{Problem: gate.ProblemOf(err)}
	}
	t := gate.Ticket{ID: parsed.TicketID(), HasZone: parsed.HasZone, ZoneTag: parsed.Zone, From: parsed.From, Until: parsed.Until}
	for _, e := range *b.events.Load() {
		if parsed.ForEvent(e.ID) {
			t.Event = e.ID
			p.Event, p.Ticket, p.CodeHash = e.ID, t.ID, ticket.CodeHash(code)
			return t
		}
	}
	t.Problem = gate.WrongEvent
	return t
}

// ticketFor completes what the code said with what the store found. A
// signed code whose ticket the manifest lists under another code was
// re-issued: the old code is revoked.
func ticketFor(known gate.Ticket, f store.Found, codeHash string) gate.Ticket {
	t := known
	if t.Problem != "" {
		return t
	}
	if f.TicketID == "" {
		t.Problem = gate.Unknown
		return t
	}
	t.ID, t.Revoked = f.TicketID, f.Revoked
	if f.Event != nil {
		t.Event, t.Reentry = f.Event.ID, f.Event.Reentry
	}
	if m := f.Ticket; m != nil {
		if m.CodeHash != "" && codeHash != "" && m.CodeHash != codeHash {
			t.Revoked = true
		}
		if m.Zone != "" {
			t.HasZone, t.Zone = true, m.Zone
		}
		if t.From.IsZero() {
			t.From = m.From
		}
		if t.Until.IsZero() {
			t.Until = m.Until
		}
	}
	return t
}

// remember records the last decision on an input, dropping decisions
// older than the double-scan window once the memory is full. The caller
// holds recentMu.
func (b *Box) remember(inputHash string, u gate.Use) {
	if len(b.recent) >= maxRecent {
		for k, old := range b.recent {
			if u.Mono-old.Mono >= b.opts.Policy.DoubleScanWindow {
				delete(b.recent, k)
			}
		}
	}
	if len(b.recent) < maxRecent {
		b.recent[inputHash] = u
	}
}

func historyOf(f store.Found) gate.History {
	h := gate.History{Newest: f.Newest}
	for _, u := range f.Admissions {
		h.Admissions = append(h.Admissions, useOf(u))
	}
	return h
}

func useOf(u store.Use) gate.Use {
	v, _ := gate.ParseVerdict(u.Verdict) // an unknown verdict is no verdict: never repeated
	return gate.Use{At: u.At, Gate: u.Gate, Verdict: v, Reason: gate.Reason(u.Reason), Boot: u.Boot, Mono: u.Mono}
}

// view turns a recorded decision into what the screen shows.
func (b *Box) view(res store.Result, d gate.Decision) Verdict {
	c := res.CheckIn
	v := Verdict{Verdict: c.Verdict, Reason: c.Reason, Ticket: c.Ticket, Event: c.Event, At: c.At,
		Gate: c.Gate, Nonce: c.Nonce, Repeat: res.Repeat, TempC: c.TempC}
	if e := res.Found.Event; e != nil {
		v.EventName = e.Name
	}
	if t := res.Found.Ticket; t != nil {
		v.Name, v.Phone, v.MemberLevel, v.Class, v.Zone, v.Benefit = t.NameMasked, t.PhoneMasked, t.MemberLevel, t.Class, t.Zone, t.Benefit
	}
	if d.Prior != nil {
		at := d.Prior.At
		v.PriorAt, v.PriorGate = &at, d.Prior.Gate
	}
	return v
}

// SetDevice records a device's state ("up", "down: ...") for the status.
func (b *Box) SetDevice(name, state string) {
	b.mu.Lock()
	b.devices[name] = state
	b.mu.Unlock()
}

// toStore converts a verified manifest to the store's records.
func toStore(m *manifest.Manifest) store.Manifest {
	benefit := map[string]string{}
	for _, c := range m.Event.Classes {
		benefit[c.Name] = c.Benefit
	}
	s := store.Manifest{
		Event: store.Event{ID: m.Event.ID, Name: m.Event.Name, Venue: m.Event.Venue, Start: m.Event.Start,
			End: m.Event.End, Zones: m.Event.Zones, Reentry: m.Event.Reentry, CardKey: m.CardKey},
		Snapshot: m.Kind == manifest.KindSnapshot, Version: m.Version, Base: m.Base,
		Revoked: m.Revoked, Removed: m.Removed,
	}
	for _, t := range m.Tickets {
		st := store.Ticket{ID: t.ID, CodeHash: t.CodeHash, Class: t.Class, Zone: t.Zone, MemberLevel: t.MemberLevel,
			Benefit: t.Benefit, NameMasked: t.NameMasked, PhoneMasked: t.PhoneMasked, Holder: t.Holder, From: t.From, Until: t.Until}
		if st.Benefit == "" {
			st.Benefit = benefit[t.Class]
		}
		s.Tickets = append(s.Tickets, st)
	}
	for _, c := range m.Cards {
		s.Cards = append(s.Cards, store.Card{UIDHash: c.UIDHash, Ticket: c.Ticket, Holder: c.Holder})
	}
	return s
}
