package box

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/gate"
	"venuebox/store"
)

// Staff mode at the kiosk: a staff member logs in with a PIN or a staff
// card and gets a session, an HttpOnly cookie that only the staff
// endpoints see; the session ends after Staff.Session without activity, or
// at log-out. Staff.MaxAttempts wrong PINs or cards in a row lock every
// login for Staff.Lockout. Every login, refusal, lock, look-up and action
// goes into the audit chain with the staff identity.
//
// The attempt counter and the sessions live in memory: a restart logs
// everyone out and clears the counter. One box has one kiosk, so the
// counter is the box's, not a client's.

// UndoWindow is how long after an admission staff may undo it.
const UndoWindow = 15 * time.Minute

// holdsWindow is how far back staff are offered fever holds to resolve.
const holdsWindow = 2 * time.Hour

// recentDecisions is how many decisions staff see.
const recentDecisions = 50

// maxLookup caps a look-up's results.
const maxLookup = 20

// maxNote caps a staff note, in characters.
const maxNote = 200

// maxSessions caps the open staff sessions; the oldest goes first.
const maxSessions = 8

// sessionCookie names the staff session cookie.
const sessionCookie = "venuebox_staff"

// autoHeader marks a staff request the screen made by itself, which does
// not extend the session.
const autoHeader = "X-Venuebox-Auto"

// Staff defaults for a config.Staff built by hand (config.ParseBox sets
// them for a file).
const (
	defaultMaxAttempts = 5
	defaultLockout     = 5 * time.Minute
	defaultSession     = 10 * time.Minute
)

// staffGate holds the logins of one box. Its zero value has no sessions.
type staffGate struct {
	mu          sync.Mutex
	wrong       int // wrong attempts in a row
	lockedUntil time.Time
	sessions    map[string]*session // by token
}

type session struct {
	staff   string
	started time.Time
	last    time.Time
}

func (b *Box) staffConfig() config.Staff {
	s := b.opts.Staff
	if s.MaxAttempts <= 0 {
		s.MaxAttempts = defaultMaxAttempts
	}
	if s.Lockout <= 0 {
		s.Lockout = defaultLockout
	}
	if s.Session <= 0 {
		s.Session = defaultSession
	}
	return s
}

// StaffEnabled reports whether anyone can log in as staff.
func (b *Box) StaffEnabled() bool { return len(b.opts.Staff.PINs) > 0 || len(b.opts.Staff.Cards) > 0 }

// staffRoutes adds the staff endpoints to mux.
func (b *Box) staffRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/staff/login", b.serveLogin)
	mux.HandleFunc("POST /api/staff/logout", b.serveLogout)
	mux.HandleFunc("GET /api/staff/session", b.staffOnly(b.serveSession))
	mux.HandleFunc("GET /api/staff/lookup", b.staffOnly(b.serveLookup))
	mux.HandleFunc("GET /api/staff/recent", b.staffOnly(b.serveRecent))
	mux.HandleFunc("POST /api/staff/admit", b.staffOnly(b.serveAdmit))
	mux.HandleFunc("POST /api/staff/hold", b.staffOnly(b.serveHold))
	mux.HandleFunc("POST /api/staff/undo", b.staffOnly(b.serveUndo))
}

// who matches a PIN or a card against the configuration in constant time
// over every entry and returns the staff identity.
func (b *Box) who(pin, card string) (string, string, bool) {
	cfg := b.opts.Staff
	found, method := "", ""
	if pin != "" {
		h := []byte(config.HashPIN(pin))
		for id, want := range cfg.PINs {
			if subtle.ConstantTimeCompare(h, []byte(strings.ToLower(want))) == 1 {
				found, method = id, "PIN"
			}
		}
	}
	if card != "" {
		h := []byte(config.HashCard(card))
		for _, want := range cfg.Cards {
			if subtle.ConstantTimeCompare(h, []byte(strings.ToLower(want))) == 1 {
				// A card has no name in the configuration: it is known by
				// the start of its hash, which says nothing of the UID.
				found, method = "card-"+strings.TrimPrefix(strings.ToLower(want), "sha256:")[:8], "card"
			}
		}
	}
	return found, method, found != ""
}

func (b *Box) serveLogin(w http.ResponseWriter, r *http.Request) {
	var req struct {
		PIN  string `json:"pin"`
		Card string `json:"card"`
	}
	if !decodeStaff(w, r, &req) {
		return
	}
	if !b.StaffEnabled() {
		httpError(w, http.StatusForbidden, "no staff are configured on this box")
		return
	}
	if (req.PIN == "") == (req.Card == "") || len(req.PIN) > 64 || len(req.Card) > 64 {
		httpError(w, http.StatusBadRequest, "give a pin or a card")
		return
	}
	cfg := b.staffConfig()
	g := &b.staff
	now := b.opts.Now()
	g.mu.Lock()
	if now.Before(g.lockedUntil) {
		left := g.lockedUntil.Sub(now)
		g.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(int(left.Seconds()+0.999)))
		writeJSON(w, http.StatusLocked, map[string]any{"error": "staff login is locked after too many wrong attempts",
			"locked": true, "retry_after_s": int(left.Seconds() + 0.999)})
		return
	}
	staff, method, ok := b.who(req.PIN, req.Card)
	if !ok {
		g.wrong++
		wrong := g.wrong
		locked := wrong >= cfg.MaxAttempts
		if locked {
			g.wrong, g.lockedUntil = 0, now.Add(cfg.Lockout)
		}
		g.mu.Unlock()
		what := "PIN"
		if req.Card != "" {
			what = "card"
		}
		b.audit(store.Entry{Kind: "staff", Actor: b.id.Box, Detail: fmt.Sprintf("login refused: wrong %s (%d of %d)", what, wrong, cfg.MaxAttempts)})
		if locked {
			b.audit(store.Entry{Kind: "staff", Actor: b.id.Box, Detail: fmt.Sprintf("login locked for %v after %d wrong attempts", cfg.Lockout, wrong)})
			b.log.Warn("staff login locked", "after", wrong, "for", cfg.Lockout)
			w.Header().Set("Retry-After", strconv.Itoa(int(cfg.Lockout.Seconds())))
			writeJSON(w, http.StatusLocked, map[string]any{"error": "staff login is locked after too many wrong attempts",
				"locked": true, "retry_after_s": int(cfg.Lockout.Seconds())})
			return
		}
		b.log.Info("staff login refused", "wrong", wrong, "of", cfg.MaxAttempts)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "wrong " + what, "attempts_left": cfg.MaxAttempts - wrong})
		return
	}
	g.wrong = 0
	token := newToken()
	if g.sessions == nil {
		g.sessions = map[string]*session{}
	}
	for len(g.sessions) >= maxSessions {
		var oldest string
		for k, s := range g.sessions {
			if oldest == "" || s.last.Before(g.sessions[oldest].last) {
				oldest = k
			}
		}
		delete(g.sessions, oldest)
	}
	g.sessions[token] = &session{staff: staff, started: now, last: now}
	g.mu.Unlock()
	b.audit(store.Entry{Kind: "staff", Actor: staff, Detail: "login by " + method})
	b.log.Info("staff logged in", "staff", staff, "by", method)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/api/staff", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, sessionView(staff, now.Add(cfg.Session), cfg.Session))
}

func sessionView(staff string, expires time.Time, idle time.Duration) map[string]any {
	return map[string]any{"staff": staff, "expires": expires.UTC(), "idle_s": int(idle.Seconds())}
}

func newToken() string {
	var b [32]byte
	rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (b *Box) serveLogout(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		httpError(w, http.StatusForbidden, "cross-origin request refused")
		return
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		b.staff.mu.Lock()
		s := b.staff.sessions[c.Value]
		delete(b.staff.sessions, c.Value)
		b.staff.mu.Unlock()
		if s != nil {
			b.audit(store.Entry{Kind: "staff", Actor: s.staff, Detail: "logout"})
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/api/staff", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// staffOnly serves h only within a live session, which it extends unless
// the request carries autoHeader.
func (b *Box) staffOnly(h func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !sameOrigin(r) {
			httpError(w, http.StatusForbidden, "cross-origin request refused")
			return
		}
		c, err := r.Cookie(sessionCookie)
		if err != nil {
			httpError(w, http.StatusUnauthorized, "staff login required")
			return
		}
		idle := b.staffConfig().Session
		now := b.opts.Now()
		g := &b.staff
		g.mu.Lock()
		s := g.sessions[c.Value]
		expired := s != nil && now.Sub(s.last) >= idle
		if expired {
			delete(g.sessions, c.Value)
		}
		var staff string
		if s != nil && !expired {
			// A request the screen makes by itself (a refresh, a session
			// check) is no sign of anyone at the kiosk.
			if now.After(s.last) && r.Header.Get(autoHeader) == "" {
				s.last = now
			}
			staff = s.staff
		}
		g.mu.Unlock()
		if expired {
			b.audit(store.Entry{Kind: "staff", Actor: s.staff, Detail: fmt.Sprintf("logged out after %v without activity", idle)})
		}
		if staff == "" {
			httpError(w, http.StatusUnauthorized, "staff login required")
			return
		}
		h(w, r, staff)
	}
}

func (b *Box) serveSession(w http.ResponseWriter, r *http.Request, staff string) {
	idle := b.staffConfig().Session
	writeJSON(w, http.StatusOK, sessionView(staff, b.opts.Now().Add(idle), idle))
}

// Holder is a ticket as a staff look-up shows it: masked data only.
type Holder struct {
	Event        string     `json:"event"`
	EventName    string     `json:"event_name,omitempty"`
	Ticket       string     `json:"ticket"`
	Name         string     `json:"name,omitempty"`
	Phone        string     `json:"phone,omitempty"`
	MemberLevel  string     `json:"member_level,omitempty"`
	Class        string     `json:"class,omitempty"`
	Zone         string     `json:"zone,omitempty"`
	Revoked      bool       `json:"revoked,omitempty"`
	AdmittedAt   *time.Time `json:"admitted_at,omitempty"`
	AdmittedGate string     `json:"admitted_gate,omitempty"`
}

// Lookup finds tickets by the last 4 digits of the phone or by name. The
// box holds only masked forms (138****5678, 张*丰), so a name matches when
// its masked form agrees with every character the mask shows (张三丰 finds
// 张*丰, and so would 张四丰), or when the query appears in the masked form
// (a family name, an initial).
func (b *Box) Lookup(q string) ([]Holder, bool, error) {
	q = strings.TrimSpace(q)
	if q == "" || utf8.RuneCountInString(q) > 32 || !utf8.ValidString(q) || strings.ContainsAny(q, "*") {
		return nil, false, errBadQuery
	}
	var hint []byte
	var match func(*store.Ticket) bool
	if isDigits(q) && len(q) == 4 {
		hint = []byte(q + `"`)
		match = func(t *store.Ticket) bool { return strings.HasSuffix(t.PhoneMasked, q) }
	} else {
		if r, _ := utf8.DecodeRuneInString(q); unicode.Is(unicode.Han, r) {
			hint = []byte(string(r))
		}
		match = func(t *store.Ticket) bool { return nameMatches(t.NameMasked, q) }
	}
	found, more, err := b.opts.Store.FindTickets(hint, match, maxLookup)
	if err != nil {
		return nil, false, err
	}
	names := map[string]string{}
	for _, e := range *b.events.Load() {
		names[e.ID] = e.Name
	}
	out := make([]Holder, 0, len(found))
	for _, f := range found {
		out = append(out, holderOf(f, names[f.Event]))
	}
	return out, more, nil
}

var errBadQuery = errors.New("box: lookup: give the last 4 digits of the phone or a name")

func holderOf(f store.TicketState, eventName string) Holder {
	t := f.Ticket
	h := Holder{Event: f.Event, EventName: eventName, Ticket: t.ID, Name: t.NameMasked, Phone: t.PhoneMasked,
		MemberLevel: t.MemberLevel, Class: t.Class, Zone: t.Zone, Revoked: f.Revoked}
	if len(f.Admissions) > 0 {
		first := f.Admissions[0]
		h.AdmittedAt, h.AdmittedGate = &first.At, first.Gate
	}
	return h
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// nameMatches reports whether the masked name could be q's, or shows q.
func nameMatches(masked, q string) bool {
	if masked == "" {
		return false
	}
	m, want := []rune(strings.ToLower(masked)), []rune(strings.ToLower(q))
	if len(m) == len(want) {
		same := true
		for i := range m {
			if m[i] != '*' && m[i] != want[i] {
				same = false
				break
			}
		}
		if same {
			return true
		}
	}
	return strings.Contains(string(m), string(want))
}

func (b *Box) serveLookup(w http.ResponseWriter, r *http.Request, staff string) {
	q := r.URL.Query().Get("q")
	res, more, err := b.Lookup(q)
	switch {
	case errors.Is(err, errBadQuery):
		httpError(w, http.StatusBadRequest, "give the last 4 digits of the phone, or a name")
		return
	case err != nil:
		b.log.Error("staff lookup", "err", err)
		httpError(w, http.StatusInternalServerError, "store unavailable")
		return
	}
	// The query itself is personal data: it goes neither into the audit
	// log nor into the system log.
	by := "name"
	if isDigits(strings.TrimSpace(q)) {
		by = "phone digits"
	}
	b.audit(store.Entry{Kind: "staff", Actor: staff, Detail: fmt.Sprintf("lookup by %s: %d found", by, len(res))})
	writeJSON(w, http.StatusOK, map[string]any{"results": res, "more": more})
}

// Decision is a recent check-in as staff see it.
type Decision struct {
	Verdict
	Staff string `json:"staff,omitempty"`
	Note  string `json:"note,omitempty"` // the staff's words
	// Of is the check-in an undo undid or a hold resolution resolved.
	Of         string `json:"of,omitempty"`
	ResolvedBy string `json:"resolved_by,omitempty"`
	// CanUndo marks an admission of this box staff may still undo;
	// CanResolve a hold they may confirm or refuse.
	CanUndo    bool `json:"can_undo,omitempty"`
	CanResolve bool `json:"can_resolve,omitempty"`
}

func (b *Box) decisionOf(d store.Decision, now time.Time) Decision {
	c := d.CheckIn
	v := Decision{Verdict: Verdict{Verdict: c.Verdict, Reason: c.Reason, Ticket: c.Ticket, Event: c.Event, At: c.At,
		Gate: c.Gate, Nonce: c.Nonce, Name: d.Name, Phone: d.Phone, MemberLevel: d.MemberLevel, Class: d.Class, TempC: c.TempC},
		Staff: c.Staff, ResolvedBy: d.ResolvedBy}
	v.Of, v.Note = store.StaffNote(c)
	if d.ResolvedBy == "" {
		v.CanUndo = c.Verdict == "admitted" && now.Sub(c.At) <= UndoWindow
		v.CanResolve = c.Verdict == "held"
	}
	return v
}

func (b *Box) serveRecent(w http.ResponseWriter, r *http.Request, staff string) {
	now := b.opts.Now()
	recent, err := b.opts.Store.Recent(recentDecisions, time.Time{}, nil)
	if err != nil {
		b.log.Error("staff recent", "err", err)
		httpError(w, http.StatusInternalServerError, "store unavailable")
		return
	}
	holds, err := b.opts.Store.Recent(recentDecisions, now.Add(-holdsWindow), func(d *store.Decision) bool {
		return d.Verdict == "held" && d.ResolvedBy == ""
	})
	if err != nil {
		b.log.Error("staff holds", "err", err)
		httpError(w, http.StatusInternalServerError, "store unavailable")
		return
	}
	out := struct {
		Decisions []Decision `json:"decisions"`
		Holds     []Decision `json:"holds"`
	}{Decisions: []Decision{}, Holds: []Decision{}}
	for _, d := range recent {
		out.Decisions = append(out.Decisions, b.decisionOf(d, now))
	}
	for _, d := range holds {
		out.Holds = append(out.Holds, b.decisionOf(d, now))
	}
	writeJSON(w, http.StatusOK, out)
}

// AdmitByHand admits a ticket by staff decision (staff-override), through
// the store's decision path, with the staff identity and their reason, then
// signals and streams it like a scan.
func (b *Box) AdmitByHand(event, ticketID, staff, note string) (Verdict, error) {
	if _, ok, err := b.opts.Store.Ticket(event, ticketID); err != nil {
		return Verdict{}, err
	} else if !ok {
		return Verdict{}, store.ErrNotFound
	}
	p := store.Presented{Input: []byte("staff-override\x00" + event + "\x00" + ticketID), Event: event, Ticket: ticketID,
		Gate: b.id.Box, Staff: staff, Note: note}
	now := b.opts.Now()
	res, err := b.opts.Store.Admit(p, func(f store.Found) store.Outcome {
		at := now
		if at.Before(f.Newest) {
			at = f.Newest
		}
		return store.Outcome{Verdict: "admitted", Reason: store.ReasonOverride, At: at}
	})
	if err != nil {
		b.log.Error("admission by hand not recorded", "staff", staff, "err", err)
		return Verdict{}, err
	}
	b.audit(store.Entry{At: res.CheckIn.At, Kind: "staff", Actor: staff, Subject: res.CheckIn.Nonce,
		Detail: fmt.Sprintf("admit by hand %s/%s: %s", event, ticketID, note)})
	b.forgetScans()
	b.log.Info("admitted by hand", "staff", staff, "event", event, "ticket", ticketID, "seq", res.CheckIn.Seq)
	v := b.view(res, gate.Decision{})
	b.announce(res.CheckIn, v, true)
	return v, nil
}

// ResolveHold confirms or refuses a fever hold.
func (b *Box) ResolveHold(nonce string, admit bool, staff, note string) (Verdict, error) {
	c, err := b.opts.Store.ResolveHold(store.Action{Nonce: nonce, Staff: staff, Note: note, At: b.opts.Now(), Gate: b.id.Box}, admit)
	if err != nil {
		return Verdict{}, err
	}
	b.forgetScans()
	b.log.Info("fever hold resolved", "staff", staff, "verdict", c.Verdict, "ticket", c.Ticket, "seq", c.Seq)
	v := b.checkInView(c)
	b.announce(c, v, true)
	return v, nil
}

// Undo undoes an admission of this box within UndoWindow.
func (b *Box) Undo(nonce, staff, note string) (Verdict, error) {
	c, err := b.opts.Store.Undo(store.Action{Nonce: nonce, Staff: staff, Note: note, At: b.opts.Now(), Gate: b.id.Box}, UndoWindow)
	if err != nil {
		return Verdict{}, err
	}
	b.forgetScans()
	b.log.Info("admission undone", "staff", staff, "ticket", c.Ticket, "seq", c.Seq)
	v := b.checkInView(c)
	b.announce(c, v, false)
	return v, nil
}

// forgetScans empties the double-scan memory after staff changed what a
// ticket's history says: a code scanned again at once must be decided
// afresh, not repeat a verdict staff have just undone or overruled. The
// memory only spans the double-scan window, so little is lost.
func (b *Box) forgetScans() {
	b.recentMu.Lock()
	clear(b.recent)
	b.recentMu.Unlock()
}

// checkInView is what the screen shows of a staff check-in.
func (b *Box) checkInView(c store.CheckIn) Verdict {
	v := Verdict{Verdict: c.Verdict, Reason: c.Reason, Ticket: c.Ticket, Event: c.Event, At: c.At, Gate: c.Gate, Nonce: c.Nonce}
	for _, e := range *b.events.Load() {
		if e.ID == c.Event {
			v.EventName = e.Name
		}
	}
	if st, ok, err := b.opts.Store.Ticket(c.Event, c.Ticket); err == nil && ok {
		t := st.Ticket
		v.Name, v.Phone, v.MemberLevel, v.Class, v.Zone, v.Benefit = t.NameMasked, t.PhoneMasked, t.MemberLevel, t.Class, t.Zone, t.Benefit
	}
	return v
}

// announce tells the signal (when signal), sync and the screens of a check-in
// staff recorded.
func (b *Box) announce(c store.CheckIn, v Verdict, signal bool) {
	if s := b.opts.Signal; s != nil && signal {
		s.Show(v.Verdict)
	}
	if b.opts.Recorded != nil {
		b.opts.Recorded(c)
	}
	b.stream.publish(v)
}

// audit appends an entry to the audit chain; a failure is logged, since
// the action it records has happened.
func (b *Box) audit(e store.Entry) {
	if e.At.IsZero() {
		e.At = b.opts.Now()
	}
	if err := b.opts.Store.Audit(e); err != nil {
		b.log.Error("audit entry not recorded", "kind", e.Kind, "actor", e.Actor, "err", err)
	}
}

func (b *Box) serveAdmit(w http.ResponseWriter, r *http.Request, staff string) {
	var req struct {
		Event  string `json:"event"`
		Ticket string `json:"ticket"`
		Note   string `json:"note"`
	}
	if !decodeStaff(w, r, &req) {
		return
	}
	note, ok := cleanNote(req.Note)
	if !ok || !validID(req.Event) || !validID(req.Ticket) {
		httpError(w, http.StatusBadRequest, "give event, ticket and a reason (note, 1 to 200 characters)")
		return
	}
	v, err := b.AdmitByHand(req.Event, req.Ticket, staff, note)
	b.staffResult(w, v, err)
}

func (b *Box) serveHold(w http.ResponseWriter, r *http.Request, staff string) {
	var req struct {
		Nonce string `json:"nonce"`
		Admit *bool  `json:"admit"`
		Note  string `json:"note"`
	}
	if !decodeStaff(w, r, &req) {
		return
	}
	note, ok := cleanNote(req.Note)
	if req.Note == "" {
		note, ok = "", true
	}
	if !ok || req.Admit == nil || !validID(req.Nonce) {
		httpError(w, http.StatusBadRequest, "give nonce, admit (true or false) and optionally a note")
		return
	}
	v, err := b.ResolveHold(req.Nonce, *req.Admit, staff, note)
	b.staffResult(w, v, err)
}

func (b *Box) serveUndo(w http.ResponseWriter, r *http.Request, staff string) {
	var req struct {
		Nonce string `json:"nonce"`
		Note  string `json:"note"`
	}
	if !decodeStaff(w, r, &req) {
		return
	}
	note, ok := cleanNote(req.Note)
	if !ok || !validID(req.Nonce) {
		httpError(w, http.StatusBadRequest, "give nonce and a reason (note, 1 to 200 characters)")
		return
	}
	v, err := b.Undo(req.Nonce, staff, note)
	b.staffResult(w, v, err)
}

func (b *Box) staffResult(w http.ResponseWriter, v Verdict, err error) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, v)
	case errors.Is(err, store.ErrNotFound):
		httpError(w, http.StatusNotFound, "no such ticket or check-in at this box")
	case errors.Is(err, store.ErrResolved):
		httpError(w, http.StatusConflict, "already undone or resolved")
	case errors.Is(err, store.ErrNotUndoable):
		httpError(w, http.StatusConflict, strings.TrimPrefix(err.Error(), "store: "))
	default:
		httpError(w, http.StatusServiceUnavailable, "the action could not be recorded")
	}
}

// decodeStaff decodes a staff request's JSON body, refusing what a page
// of another origin could send.
func decodeStaff(w http.ResponseWriter, r *http.Request, v any) bool {
	if !sameOrigin(r) {
		httpError(w, http.StatusForbidden, "cross-origin request refused")
		return false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		httpError(w, http.StatusUnsupportedMediaType, "send application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		httpError(w, http.StatusBadRequest, "body must be one JSON object under 4 KiB")
		return false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		httpError(w, http.StatusBadRequest, "one JSON object only")
		return false
	}
	return true
}

// sameOrigin refuses a request a browser made for a page of another
// origin: its Origin header, when it has one, must name this host.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// cleanNote trims a staff note and checks it: 1 to maxNote characters of
// printable text.
func cleanNote(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxNote {
		return "", false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", false
		}
	}
	return s, true
}

func validID(s string) bool { return s != "" && len(s) <= 128 && readable(s) }
