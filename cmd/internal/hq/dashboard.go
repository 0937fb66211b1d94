package hq

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"venuebox/cmd/internal/ticket"
	"venuebox/store/hqstore"
)

// Summary is how an event went, as the dashboard shows it: every number is
// computed from the check-ins HQ holds (GET /api/events/{event}/summary).
type Summary struct {
	Event    EventView `json:"event"`
	Expected int       `json:"expected"` // tickets not revoked
	// Admitted counts the tickets admitted at least once (an admission
	// staff undid does not count); Entries every admission, re-entries
	// included.
	Admitted  int            `json:"admitted"`
	Entries   int            `json:"entries"`
	NoShows   int            `json:"no_shows"`
	CheckIns  int            `json:"checkins"`
	Rejected  int            `json:"rejected"`
	Held      int            `json:"held"`
	Reasons   map[string]int `json:"rejections_by_reason"`
	Gates     []GateCount    `json:"gates"`
	Timeline  Timeline       `json:"timeline"`
	VIP       []Arrival      `json:"vip_arrivals"`
	Fever     FeverCount     `json:"fever"`
	Overrides []StaffAction  `json:"staff_overrides"`
	Undos     []StaffAction  `json:"undos"`
	Conflicts int            `json:"conflicts"`
	// ConflictTickets lists the tickets admitted at more than one gate.
	ConflictTickets []string  `json:"conflict_tickets"`
	NoShowList      []Person  `json:"no_show_list"` // the first 50, masked
	Computed        time.Time `json:"computed"`
}

// GateCount is one gate's decisions.
type GateCount struct {
	Box      string `json:"box"`
	Gate     string `json:"gate"`
	Admitted int    `json:"admitted"`
	Rejected int    `json:"rejected"`
	Held     int    `json:"held"`
}

// Timeline counts decisions per bucket of Step from Start.
type Timeline struct {
	Start    time.Time `json:"start,omitzero"`
	StepSec  int       `json:"step_s"`
	Admitted []int     `json:"admitted"`
	Rejected []int     `json:"rejected"`
}

// Arrival is a VIP's admission.
type Arrival struct {
	Ticket string    `json:"ticket"`
	Name   string    `json:"name"` // masked
	Level  string    `json:"level"`
	Gate   string    `json:"gate"`
	At     time.Time `json:"at"`
}

// FeverCount is the fever holds and how staff resolved them.
type FeverCount struct {
	Held     int `json:"held"`
	Admitted int `json:"admitted"` // confirmed by staff
	Refused  int `json:"refused"`
}

// StaffAction is an override or an undo.
type StaffAction struct {
	Ticket string    `json:"ticket"`
	Staff  string    `json:"staff"`
	Gate   string    `json:"gate"`
	Note   string    `json:"note"`
	At     time.Time `json:"at"`
}

// Person is a ticket and its masked holder.
type Person struct {
	Ticket string `json:"ticket"`
	Name   string `json:"name"`
	Level  string `json:"level,omitempty"`
}

type holder struct{ name, level string }

// holders returns each ticket's masked holder and level, and how many
// tickets are not revoked: from HQ's attendees, or for an event issued
// offline (venuebox issue) from its manifest.
func (h *HQ) holders(id string) (map[string]holder, int, EventView, []string, error) {
	out := map[string]holder{}
	e, ok, err := h.office.st.Event(id)
	if err != nil {
		return nil, 0, EventView{}, nil, err
	}
	if ok {
		as, err := h.office.st.Attendees(id)
		if err != nil {
			return nil, 0, EventView{}, nil, err
		}
		n := 0
		for _, a := range as {
			if !a.Revoked {
				out[a.ID] = holder{ticket.MaskName(a.Name), a.MemberLevel}
				n++
			}
		}
		return out, n, eventView(e), e.VIPLevels, nil
	}
	h.lib.mu.Lock()
	defer h.lib.mu.Unlock()
	le := h.lib.events[id]
	if le == nil {
		return out, 0, EventView{ID: id, Name: id, Zones: []string{}, Classes: []hqstore.Class{}, VIPLevels: []string{}}, nil, nil
	}
	revoked := map[string]bool{}
	for _, r := range le.snap.Revoked {
		revoked[r] = true
	}
	for _, t := range le.snap.Tickets {
		if !revoked[t.ID] {
			out[t.ID] = holder{t.NameMasked, t.MemberLevel}
		}
	}
	me := le.snap.Event
	v := EventView{ID: id, Name: me.Name, Venue: me.Venue, Start: optTime(me.Start), End: optTime(me.End), Zones: me.Zones,
		Reentry: me.Reentry, Classes: []hqstore.Class{}, VIPLevels: []string{}, Tickets: uint64(len(le.snap.Tickets)), Version: le.snap.Version}
	if v.Zones == nil {
		v.Zones = []string{}
	}
	return out, len(out), v, nil, nil
}

// summarize computes an event's summary from its check-ins.
func (h *HQ) summarize(_ context.Context, id string) (*Summary, error) {
	who, expected, ev, vip, err := h.holders(id)
	if err != nil {
		return nil, err
	}
	cs, err := h.Store.Attendance(id)
	if err != nil {
		return nil, err
	}
	cf, err := h.Store.Conflicts(id)
	if err != nil {
		return nil, err
	}
	s := &Summary{Event: ev, Expected: expected, Reasons: map[string]int{}, Computed: time.Now().UTC(),
		Gates: []GateCount{}, VIP: []Arrival{}, Overrides: []StaffAction{}, Undos: []StaffAction{}, ConflictTickets: []string{}, NoShowList: []Person{}}
	vips := map[string]bool{}
	for _, l := range vip {
		vips[strings.ToLower(l)] = true
	}
	// Undos name the admission they undo by its nonce.
	undone := map[string]bool{}
	for _, c := range cs {
		if c.Reason == "undo" {
			if n, _, ok := strings.Cut(strings.TrimPrefix(c.Note, "undo "), ":"); ok {
				undone[n] = true
			}
		}
	}
	gates := map[[2]string]*GateCount{}
	admitted := map[string]bool{}
	seenVIP := map[string]bool{}
	for _, c := range cs {
		s.CheckIns++
		g := gates[[2]string{c.Box, c.Gate}]
		if g == nil {
			g = &GateCount{Box: c.Box, Gate: c.Gate}
			gates[[2]string{c.Box, c.Gate}] = g
		}
		act := StaffAction{Ticket: c.Ticket, Staff: c.Staff, Gate: gateName(c), Note: c.Note, At: c.At}
		switch c.Verdict {
		case "admitted":
			g.Admitted++
			if undone[c.Nonce] {
				break
			}
			s.Entries++
			if c.Reason == "staff-override" {
				s.Overrides = append(s.Overrides, act)
				if strings.HasPrefix(c.Note, "hold ") {
					s.Fever.Admitted++
				}
			}
			if !admitted[c.Ticket] {
				admitted[c.Ticket] = true
				if hd, ok := who[c.Ticket]; ok && vips[strings.ToLower(hd.level)] && !seenVIP[c.Ticket] {
					seenVIP[c.Ticket] = true
					s.VIP = append(s.VIP, Arrival{Ticket: c.Ticket, Name: hd.name, Level: hd.level, Gate: gateName(c), At: c.At})
				}
			}
		case "rejected":
			g.Rejected++
			s.Rejected++
			if c.Reason == "undo" {
				s.Undos = append(s.Undos, act)
			} else {
				s.Reasons[c.Reason]++
			}
			if c.Reason == "fever" {
				s.Fever.Refused++
			}
		case "held":
			g.Held++
			s.Held++
			if c.Reason == "fever" {
				s.Fever.Held++
			}
		}
	}
	// A ticket revoked after its holder came in still came in.
	s.Admitted = len(admitted)
	for _, g := range gates {
		s.Gates = append(s.Gates, *g)
	}
	slices.SortFunc(s.Gates, func(a, b GateCount) int { return strings.Compare(a.Box+a.Gate, b.Box+b.Gate) })
	s.Timeline = timeline(cs, undone)
	s.Conflicts = len(cf)
	for _, c := range cf {
		s.ConflictTickets = append(s.ConflictTickets, c.Ticket)
	}
	ids := make([]string, 0, len(who))
	for t := range who {
		if !admitted[t] {
			ids = append(ids, t)
		}
	}
	s.NoShows = len(ids)
	slices.SortFunc(ids, func(a, b string) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return strings.Compare(a, b)
	})
	for _, t := range ids[:min(50, len(ids))] {
		s.NoShowList = append(s.NoShowList, Person{Ticket: t, Name: who[t].name, Level: who[t].level})
	}
	return s, nil
}

func gateName(c hqstore.CheckIn) string {
	if c.Gate != "" {
		return c.Gate
	}
	return c.Box
}

// timeline buckets admissions and rejections over the span of the
// check-ins, in about 48 buckets of a round length.
func timeline(cs []hqstore.CheckIn, undone map[string]bool) Timeline {
	var tl Timeline
	if len(cs) == 0 {
		tl.StepSec, tl.Admitted, tl.Rejected = 300, []int{}, []int{}
		return tl
	}
	first, last := cs[0].At, cs[0].At
	for _, c := range cs {
		if c.At.Before(first) {
			first = c.At
		}
		if c.At.After(last) {
			last = c.At
		}
	}
	span := last.Sub(first)
	step := time.Minute
	for _, s := range []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, 24 * time.Hour} {
		step = s
		if span/s <= 48 {
			break
		}
	}
	tl.Start = first.UTC().Truncate(step)
	n := int(last.Sub(tl.Start)/step) + 1
	tl.StepSec, tl.Admitted, tl.Rejected = int(step/time.Second), make([]int, n), make([]int, n)
	for _, c := range cs {
		i := min(n-1, int(c.At.Sub(tl.Start)/step))
		switch {
		case c.Verdict == "admitted" && !undone[c.Nonce]:
			tl.Admitted[i]++
		case c.Verdict == "rejected" && c.Reason != "undo":
			tl.Rejected[i]++
		}
	}
	return tl
}

func (h *HQ) serveSummary(w http.ResponseWriter, r *http.Request) {
	s, err := h.summarize(r.Context(), r.PathValue("event"))
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "summary unavailable", err)
		return
	}
	writeJSON(w, http.StatusOK, s)
}

func (h *HQ) serveAuditClear(w http.ResponseWriter, r *http.Request) {
	box := r.PathValue("box")
	states, err := h.Store.AuditStates()
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "audit states unavailable", err)
		return
	}
	if _, ok := states[box]; !ok {
		h.fail(w, http.StatusNotFound, "no audit chain from that box", nil)
		return
	}
	cl, ok := h.Store.(interface {
		ClearAuditBreak(box, by string, at time.Time) (hqstore.AuditState, error)
	})
	if !ok {
		h.fail(w, http.StatusNotImplemented, "this store cannot clear audit breaks", nil)
		return
	}
	st, err := cl.ClearAuditBreak(box, actorOf(r).id, time.Now().UTC())
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "not cleared", err)
		return
	}
	note(w, "audit breaks of %s cleared (%d found so far)", box, st.BreakCount)
	writeJSON(w, http.StatusOK, auditStatus(map[string]hqstore.AuditState{box: st}, box))
}
