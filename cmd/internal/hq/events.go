package hq

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/issuing"
	"venuebox/cmd/internal/manifest"
	"venuebox/cmd/internal/ticket"
	"venuebox/cmd/internal/ui"
	"venuebox/store"
	"venuebox/store/hqstore"
	"venuebox/sync/hqsync"
	"venuebox/sync/wire"
)

// officeStore is what the event desk needs from HQ's store beyond Store:
// events, attendees, operators and HQ's own audit log. hqstore.Store (bbolt)
// has them; a store without them runs HQ without the event desk (events
// issued offline with venuebox issue still work).
type officeStore interface {
	CreateEvent(hqstore.Event) error
	UpdateEvent(id string, f func(*hqstore.Event) error) (hqstore.Event, error)
	Event(id string) (hqstore.Event, bool, error)
	Events() ([]hqstore.Event, error)
	AddAttendees(event string, as []hqstore.Attendee, sign func(*hqstore.Attendee) error) ([]hqstore.Attendee, error)
	UpdateAttendee(event string, number uint64, f func(*hqstore.Attendee) error) (hqstore.Attendee, error)
	Attendees(event string) ([]hqstore.Attendee, error)
	AppendLog(store.Entry) (store.Entry, error)
	Log(before uint64, limit int) ([]store.Entry, error)
	VerifyLog() (int, error)
	PutOperator(hqstore.Operator) error
	Operator(id string) (hqstore.Operator, bool, error)
}

var _ officeStore = (*hqstore.Store)(nil)

// office is HQ's event desk: events and attendees, issuing, keys and who
// is signed in.
type office struct {
	st       officeStore // nil: no event desk with this store
	mu       sync.Mutex  // one publication (or key change) at a time
	priv     ed25519.PrivateKey
	keysDir  string
	keys     keyFile
	sessions sessions
}

// currentKey returns the key HQ signs with now: the configuration's, or
// the one a rotation activated since. Start calls it before anything
// signs.
func currentKey(cfg *config.HQ, configured ed25519.PrivateKey) (ed25519.PrivateKey, *office, error) {
	priv, kf, err := loadKeys(cfg.StateDir, configured, cfg.SigningKey)
	if err != nil {
		return nil, nil, err
	}
	o := &office{priv: priv, keysDir: keysDir(cfg.StateDir), keys: kf}
	if err := o.saveKeys(); err != nil {
		return nil, nil, fmt.Errorf("hq: keys: %w", err)
	}
	return priv, o, nil
}

// desk refuses a request for the event desk when the store has none.
func (h *HQ) desk(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.office.st == nil {
			h.fail(w, http.StatusNotImplemented, "the event desk needs store: {driver: bbolt} in this build", nil)
			return
		}
		f(w, r)
	}
}

// mountOffice adds the event desk's routes and the dashboard to mux.
func (h *HQ) mountOffice(mux *http.ServeMux) {
	op := func(f http.HandlerFunc) http.HandlerFunc { return h.desk(h.allow(RoleOperator, f)) }
	sup := func(f http.HandlerFunc) http.HandlerFunc { return h.desk(h.allow(RoleSupervisor, f)) }
	rd := h.desk
	mux.HandleFunc("GET /api/events", rd(h.serveEvents))
	mux.HandleFunc("POST /api/events", op(h.serveEventCreate))
	mux.HandleFunc("GET /api/events/{event}", rd(h.serveEvent))
	mux.HandleFunc("PATCH /api/events/{event}", op(h.serveEventUpdate))
	mux.HandleFunc("POST /api/events/{event}/publish", op(h.servePublish))
	mux.HandleFunc("POST /api/events/{event}/attendees", op(h.serveImport))
	mux.HandleFunc("GET /api/events/{event}/attendees", rd(h.serveAttendees))
	mux.HandleFunc("PATCH /api/events/{event}/attendees/{ticket}", op(h.serveAttendeeEdit))
	mux.HandleFunc("POST /api/events/{event}/attendees/{ticket}/revoke", op(h.serveAttendeeRevoke))
	mux.HandleFunc("GET /api/events/{event}/tickets/{file}", sup(h.serveETicket))
	mux.HandleFunc("GET /api/events/{event}/tickets.zip", sup(h.serveTicketsZip))
	mux.HandleFunc("GET /api/events/{event}/sheet", sup(h.serveSheet))
	mux.HandleFunc("GET /api/events/{event}/summary", h.serveSummary)
	mux.HandleFunc("GET /api/keys", rd(h.serveKeys))
	mux.HandleFunc("POST /api/keys", sup(h.serveKeyCreate))
	mux.HandleFunc("GET /api/keys/{file}", h.servePublicKey)
	mux.HandleFunc("POST /api/keys/{key}/activate", sup(h.serveKeyActivate))
	mux.HandleFunc("POST /api/boxes/{box}/audit/clear", h.allow(RoleSupervisor, h.serveAuditClear))
	mux.HandleFunc("POST /api/session", rd(h.serveSessionOpen))
	mux.HandleFunc("GET /api/session", h.serveSessionGet)
	mux.HandleFunc("DELETE /api/session", h.serveSessionClose)
	mux.HandleFunc("PUT /api/operators/{operator}", sup(h.serveOperatorPut))
	mux.HandleFunc("GET /api/log", sup(h.serveLog))
	mux.Handle("GET /", ui.Dashboard())
}

// EventRequest is the body of POST /api/events and PATCH
// /api/events/{event} (where every field is optional and id is not).
type EventRequest struct {
	ID        string          `json:"id"`
	Name      *string         `json:"name"`
	Venue     *string         `json:"venue"`
	Start     *time.Time      `json:"start"`
	End       *time.Time      `json:"end"`
	Zones     []string        `json:"zones"`
	Reentry   *bool           `json:"reentry"`
	Classes   []hqstore.Class `json:"classes"`
	VIPLevels []string        `json:"vip_levels"`
}

// apply validates the request and writes it into e.
func (q *EventRequest) apply(e *hqstore.Event) error {
	if q.Name != nil {
		e.Name = *q.Name
	}
	if q.Venue != nil {
		e.Venue = *q.Venue
	}
	if q.Start != nil {
		e.Start = q.Start.UTC()
	}
	if q.End != nil {
		e.End = q.End.UTC()
	}
	if q.Zones != nil {
		e.Zones = q.Zones
	}
	if q.Reentry != nil {
		e.Reentry = *q.Reentry
	}
	if q.Classes != nil {
		e.Classes = q.Classes
	}
	if q.VIPLevels != nil {
		e.VIPLevels = q.VIPLevels
	}
	switch {
	case e.Name == "" || len(e.Name) > 120 || !utf8.ValidString(e.Name):
		return errors.New("name: 1 to 120 bytes of text")
	case wire.ValidID(e.Venue) != nil:
		return errors.New("venue: 1 to 64 of a-z A-Z 0-9 . _ - (the boxes' venue id)")
	case !e.Start.IsZero() && !e.End.IsZero() && !e.End.After(e.Start):
		return errors.New("end must be after start")
	case !e.Start.IsZero() && e.Start.Before(ticket.Epoch):
		return fmt.Errorf("start must be after %s, where ticket codes' windows begin", ticket.Epoch.Format(time.DateOnly))
	case len(e.Zones) > 32 || len(e.Classes) > 32 || len(e.VIPLevels) > 32:
		return errors.New("at most 32 zones, classes and VIP levels")
	}
	for _, z := range e.Zones {
		if wire.ValidID(z) != nil {
			return fmt.Errorf("zone %q: 1 to 64 of a-z A-Z 0-9 . _ -", z)
		}
	}
	seen := map[string]bool{}
	for _, c := range e.Classes {
		if c.Name == "" || len(c.Name) > 64 || len(c.Benefit) > 120 || seen[c.Name] || c.Points < 0 {
			return fmt.Errorf("class %q: a unique name of 1 to 64 bytes, a benefit of at most 120, points 0 or more", c.Name)
		}
		seen[c.Name] = true
	}
	// What a manifest would refuse is refused here, before any ticket.
	m := manifest.Manifest{Format: manifest.Format, Kind: manifest.KindSnapshot, Version: 1, Event: manifestEvent(*e)}
	if err := m.Validate(); err != nil {
		return err
	}
	return nil
}

// manifestEvent is the header boxes get for an event.
func manifestEvent(e hqstore.Event) manifest.Event {
	me := manifest.Event{ID: e.ID, Name: e.Name, Venue: e.Venue, Start: e.Start, End: e.End, Zones: e.Zones, Reentry: e.Reentry}
	for _, c := range e.Classes {
		me.Classes = append(me.Classes, manifest.Class{Name: c.Name, Benefit: benefit(c)})
	}
	return me
}

// benefit is what the gate shows for a class: its benefit, and its points.
func benefit(c hqstore.Class) string {
	switch {
	case c.Points > 0 && c.Benefit != "":
		return fmt.Sprintf("%s · +%d", c.Benefit, c.Points)
	case c.Points > 0:
		return fmt.Sprintf("+%d", c.Points)
	}
	return c.Benefit
}

func (h *HQ) serveEventCreate(w http.ResponseWriter, r *http.Request) {
	var q EventRequest
	if err := decodeBody(w, r, &q); err != nil {
		h.fail(w, http.StatusBadRequest, "body must be an event: "+err.Error(), err)
		return
	}
	if err := wire.ValidID(q.ID); err != nil {
		h.fail(w, http.StatusBadRequest, "id: 1 to 64 of a-z A-Z 0-9 . _ -", err)
		return
	}
	now := time.Now().UTC()
	e := hqstore.Event{ID: q.ID, Created: now, Updated: now, CardKey: make([]byte, manifest.CardKeySize)}
	rand.Read(e.CardKey)
	if err := q.apply(&e); err != nil {
		h.fail(w, http.StatusBadRequest, err.Error(), err)
		return
	}
	if err := h.office.st.CreateEvent(e); errors.Is(err, hqstore.ErrExists) {
		h.fail(w, http.StatusConflict, "an event with that id exists", err)
		return
	} else if err != nil {
		h.fail(w, http.StatusInternalServerError, "event not stored", err)
		return
	}
	note(w, "event %s created (%s at %s)", e.ID, e.Name, e.Venue)
	writeJSON(w, http.StatusCreated, eventView(e))
}

func (h *HQ) serveEventUpdate(w http.ResponseWriter, r *http.Request) {
	var q EventRequest
	if err := decodeBody(w, r, &q); err != nil || q.ID != "" {
		h.fail(w, http.StatusBadRequest, "body must be the fields to change (not the id)", err)
		return
	}
	e, err := h.office.st.UpdateEvent(r.PathValue("event"), func(e *hqstore.Event) error {
		from, until := window(*e)
		e.Updated = time.Now().UTC()
		if err := q.apply(e); err != nil {
			return err
		}
		if f, u := window(*e); e.Next > 0 && (!f.Equal(from) || !u.Equal(until)) {
			return errors.New("start and end are in the codes of the tickets issued: they cannot change now")
		}
		return nil
	})
	if errors.Is(err, hqstore.ErrNotFound) {
		h.fail(w, http.StatusNotFound, "no such event", err)
		return
	}
	if err != nil {
		h.fail(w, http.StatusBadRequest, "event not changed: "+errors.Unwrap(errors.Unwrap(err)).Error(), err)
		return
	}
	res, err := h.publish(r.Context(), e.ID)
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "event changed, manifest not published", err)
		return
	}
	note(w, "event %s changed; manifest v%d", e.ID, res.Version)
	writeJSON(w, http.StatusOK, eventView(e))
}

// EventView is an event as the API shows it.
type EventView struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Venue     string          `json:"venue"`
	Start     *time.Time      `json:"start,omitempty"`
	End       *time.Time      `json:"end,omitempty"`
	Zones     []string        `json:"zones"`
	Reentry   bool            `json:"reentry"`
	Classes   []hqstore.Class `json:"classes"`
	VIPLevels []string        `json:"vip_levels"`
	Tickets   uint64          `json:"tickets"`
	Version   uint64          `json:"manifest_version"`
	Published *time.Time      `json:"published,omitempty"`
}

func eventView(e hqstore.Event) EventView {
	v := EventView{ID: e.ID, Name: e.Name, Venue: e.Venue, Start: optTime(e.Start), End: optTime(e.End), Zones: e.Zones,
		Reentry: e.Reentry, Classes: e.Classes, VIPLevels: e.VIPLevels, Tickets: e.Next, Version: e.Version, Published: optTime(e.Published)}
	for _, p := range []*[]string{&v.Zones, &v.VIPLevels} {
		if *p == nil {
			*p = []string{}
		}
	}
	if v.Classes == nil {
		v.Classes = []hqstore.Class{}
	}
	return v
}

func (h *HQ) serveEvents(w http.ResponseWriter, r *http.Request) {
	es, err := h.office.st.Events()
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "events unavailable", err)
		return
	}
	out := make([]EventView, 0, len(es))
	for _, e := range es {
		out = append(out, eventView(e))
	}
	slices.SortFunc(out, func(a, b EventView) int {
		if a.Start != nil && b.Start != nil && !a.Start.Equal(*b.Start) {
			return b.Start.Compare(*a.Start)
		}
		return 0
	})
	writeJSON(w, http.StatusOK, out)
}

func (h *HQ) serveEvent(w http.ResponseWriter, r *http.Request) {
	e, ok, err := h.office.st.Event(r.PathValue("event"))
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "event unavailable", err)
		return
	}
	if !ok {
		h.fail(w, http.StatusNotFound, "no such event", nil)
		return
	}
	writeJSON(w, http.StatusOK, eventView(e))
}

func (h *HQ) servePublish(w http.ResponseWriter, r *http.Request) {
	res, err := h.publish(r.Context(), r.PathValue("event"))
	if errors.Is(err, hqstore.ErrNotFound) {
		h.fail(w, http.StatusNotFound, "no such event", err)
		return
	}
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "manifest not published", err)
		return
	}
	note(w, "manifest v%d, %d tickets", res.Version, res.Tickets)
	writeJSON(w, http.StatusOK, res)
}

// Published says what a publication did.
type Published struct {
	Event   string `json:"event"`
	Version uint64 `json:"version"`
	Tickets int    `json:"tickets"`
	Revoked int    `json:"revoked"`
	Delta   bool   `json:"delta"`
	Venues  int    `json:"venues_pushed"`
}

// publish signs the event's whole ticket list as its next manifest
// version, keeps it in the library (which makes the delta from the version
// before) and pushes it to the event's venue. Revocations made through
// /api/events/{event}/revoke are kept: a manifest never un-revokes.
func (h *HQ) publish(ctx context.Context, id string) (Published, error) {
	o := h.office
	o.mu.Lock()
	defer o.mu.Unlock()
	e, ok, err := h.office.st.Event(id)
	if err != nil {
		return Published{}, err
	}
	if !ok {
		return Published{}, hqstore.ErrNotFound
	}
	as, err := h.office.st.Attendees(id)
	if err != nil {
		return Published{}, err
	}
	h.lib.mu.Lock()
	held := uint64(0)
	revoked := map[string]bool{}
	if le := h.lib.events[id]; le != nil {
		held = le.snap.Version
		for _, t := range le.snap.Revoked {
			revoked[t] = true
		}
	}
	h.lib.mu.Unlock()
	now := time.Now().UTC()
	snap := issuing.Snapshot{Event: manifestEvent(e), Version: max(held, e.Version) + 1, IssuedAt: now, CardKey: e.CardKey,
		Tickets: make([]issuing.Ticket, 0, len(as))}
	classes := map[string]hqstore.Class{}
	for _, c := range e.Classes {
		classes[c.Name] = c
	}
	res := Published{Event: id, Version: snap.Version, Tickets: len(as)}
	for _, a := range as {
		from, until := window(e)
		t := issuing.Ticket{ID: a.ID, Code: a.Code, Zone: a.Zone, Benefit: benefit(classes[a.Class]), Revoked: a.Revoked || revoked[a.ID],
			From: from, Until: until, Holder: issuing.Attendee{Name: a.Name, Phone: a.Phone, MemberLevel: a.MemberLevel, CardUID: a.CardUID, Class: a.Class}}
		if t.Revoked {
			res.Revoked++
		}
		snap.Tickets = append(snap.Tickets, t)
	}
	raw, err := snap.Sign(o.priv)
	if err != nil {
		return Published{}, err
	}
	m, delta, err := h.lib.add(raw)
	if err != nil {
		return Published{}, err
	}
	if _, err := h.office.st.UpdateEvent(id, func(e *hqstore.Event) error {
		e.Version, e.Published = m.Version, now
		return nil
	}); err != nil {
		return Published{}, err
	}
	res.Delta = delta != nil
	res.Venues = h.pushJob(ctx, pushJob{venue: e.Venue, event: id, version: m.Version, raw: raw, delta: delta})
	h.log.Info("manifest published", "event", id, "version", m.Version, "tickets", len(as), "delta", delta != nil, "venues", res.Venues)
	return res, nil
}

// window is the validity window an event's codes carry: its start and end,
// rounded outward to the minute as the code format does.
func window(e hqstore.Event) (from, until time.Time) {
	if e.Start.IsZero() || e.End.IsZero() {
		return time.Time{}, time.Time{}
	}
	from = e.Start.UTC().Truncate(time.Minute)
	until = e.End.UTC().Truncate(time.Minute)
	if until.Before(e.End) {
		until = until.Add(time.Minute)
	}
	return from, until
}

type pushJob struct {
	venue, event string
	version      uint64
	raw          []byte
	delta        *hqsync.Manifest
}

// pushJob pushes a kept manifest (its delta when there is one) to the
// venue's boxes and returns to how many venues.
func (h *HQ) pushJob(ctx context.Context, p pushJob) int {
	mf := hqsync.Manifest{Event: p.event, Version: p.version, Raw: p.raw}
	if p.delta != nil {
		mf = *p.delta
	}
	return h.push(ctx, p.venue, mf)
}

// uintParam reads a non-negative integer query parameter.
func uintParam(r *http.Request, name string, def uint64) uint64 {
	v, err := strconv.ParseUint(r.URL.Query().Get(name), 10, 64)
	if err != nil {
		return def
	}
	return v
}

// signCode signs the code of ticket number n of event e with the current
// key.
func (o *office) signCode(e hqstore.Event, a *hqstore.Attendee) error {
	from, until := window(e)
	code, err := ticket.Sign(o.priv, ticket.Claims{Event: e.ID, Number: a.Number, Zone: a.Zone, From: from, Until: until})
	if err != nil {
		return fmt.Errorf("ticket %d: %w", a.Number, err)
	}
	a.Code, a.Key = code, ticket.KeyIDOf(o.priv.Public().(ed25519.PublicKey)).String()
	return nil
}
