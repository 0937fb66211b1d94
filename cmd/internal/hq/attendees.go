package hq

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"venuebox/cmd/internal/issuing"
	"venuebox/cmd/internal/ticket"
	"venuebox/store/hqstore"
)

// ImportReport is the answer to an attendee import: what was taken, and
// each row refused with its line and why.
type ImportReport struct {
	Event    string              `json:"event"`
	Import   string              `json:"import"`
	Encoding string              `json:"encoding"`
	Accepted int                 `json:"accepted"`
	Rejected []issuing.Rejection `json:"rejected"`
	Blank    int                 `json:"blank"`
	DryRun   bool                `json:"dry_run,omitempty"`
	First    string              `json:"first_ticket,omitempty"`
	Last     string              `json:"last_ticket,omitempty"`
	Manifest *Published          `json:"manifest,omitempty"`
}

// serveImport takes an attendee CSV as the body (the columns of venuebox
// issue), refuses each bad row with its reason, issues a ticket for each
// good one and publishes the event's manifest. ?dry_run=1 only reports.
func (h *HQ) serveImport(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("event")
	e, ok, err := h.office.st.Event(id)
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "event unavailable", err)
		return
	}
	if !ok {
		h.fail(w, http.StatusNotFound, "no such event", nil)
		return
	}
	im, err := issuing.ReadCSV(http.MaxBytesReader(w, r.Body, issuing.MaxCSVSize+1))
	if err != nil {
		h.fail(w, http.StatusBadRequest, "attendee CSV refused: "+err.Error(), err)
		return
	}
	existing, err := h.office.st.Attendees(id)
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "attendees unavailable", err)
		return
	}
	rep := ImportReport{Event: id, Import: time.Now().UTC().Format("20060102T150405Z"), Encoding: im.Encoding,
		Rejected: im.Rejected, Blank: im.Blank, DryRun: r.URL.Query().Get("dry_run") == "1"}
	cards, people := map[string]string{}, map[string]string{}
	for _, a := range existing {
		if a.CardUID != "" {
			cards[a.CardUID] = a.ID
		}
		people[a.Name+"\x00"+a.Phone] = a.ID
	}
	classes := map[string]bool{}
	for _, c := range e.Classes {
		classes[c.Name] = true
	}
	var take []hqstore.Attendee
	now := time.Now().UTC()
	for _, a := range im.Rows {
		reason := ""
		switch {
		case people[a.Name+"\x00"+a.Phone] != "":
			reason = "already imported: the same name and phone hold ticket " + people[a.Name+"\x00"+a.Phone]
		case a.CardUID != "" && cards[a.CardUID] != "":
			reason = "card_uid already holds ticket " + cards[a.CardUID]
		case a.Class != "" && len(classes) > 0 && !classes[a.Class]:
			reason = fmt.Sprintf("ticket_class %q is not one of the event's classes", clipText(a.Class, 64))
		}
		if reason != "" {
			rep.Rejected = append(rep.Rejected, issuing.Rejection{Line: a.Line, Reason: reason})
			continue
		}
		people[a.Name+"\x00"+a.Phone] = "this file"
		take = append(take, hqstore.Attendee{Name: a.Name, Phone: a.Phone, MemberLevel: a.MemberLevel, CardUID: a.CardUID,
			Class: a.Class, Import: rep.Import, Line: a.Line, Created: now, Updated: now})
	}
	sortRejections(rep.Rejected)
	rep.Accepted = len(take)
	if rep.DryRun || len(take) == 0 {
		writeJSON(w, http.StatusOK, rep)
		return
	}
	h.office.mu.Lock()
	added, err := h.office.st.AddAttendees(id, take, func(a *hqstore.Attendee) error { return h.office.signCode(e, a) })
	h.office.mu.Unlock()
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "attendees not stored: "+err.Error(), err)
		return
	}
	rep.First, rep.Last = added[0].ID, added[len(added)-1].ID
	res, err := h.publish(r.Context(), id)
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "tickets issued, manifest not published: "+err.Error(), err)
		return
	}
	rep.Manifest = &res
	note(w, "import %s (%s): %d tickets issued (%s-%s), %d rows refused; manifest v%d", rep.Import, rep.Encoding,
		rep.Accepted, rep.First, rep.Last, len(rep.Rejected), res.Version)
	writeJSON(w, http.StatusOK, rep)
}

func sortRejections(rs []issuing.Rejection) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].Line < rs[j-1].Line; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

// AttendeeView is an attendee as the API shows it: masked, unless a
// supervisor asked for clear data.
type AttendeeView struct {
	Ticket      string     `json:"ticket"`
	Name        string     `json:"name"`
	Phone       string     `json:"phone"`
	MemberLevel string     `json:"member_level,omitempty"`
	Class       string     `json:"class,omitempty"`
	Zone        string     `json:"zone,omitempty"`
	CardUID     string     `json:"card_uid,omitempty"`
	Key         string     `json:"key"`
	Revoked     bool       `json:"revoked"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
	Code        string     `json:"code,omitempty"`
	Line        int        `json:"line,omitempty"`
}

func view(a hqstore.Attendee, clear bool) AttendeeView {
	v := AttendeeView{Ticket: a.ID, Name: ticket.MaskName(a.Name), Phone: ticket.MaskPhone(a.Phone), MemberLevel: a.MemberLevel,
		Class: a.Class, Zone: a.Zone, Key: a.Key, Revoked: a.Revoked, RevokedAt: optTime(a.RevokedAt), Line: a.Line}
	if a.CardUID != "" {
		v.CardUID = "****" + a.CardUID[max(0, len(a.CardUID)-4):]
	}
	if clear {
		v.Name, v.Phone, v.CardUID, v.Code = a.Name, a.Phone, a.CardUID, a.Code
	}
	return v
}

// serveAttendees lists an event's attendees, masked; ?clear=1 with a
// supervisor's sign-in shows names, phones, card UIDs and codes, and that
// view is itself in HQ's audit log. ?format=csv gives the list as CSV.
func (h *HQ) serveAttendees(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("event")
	clear := r.URL.Query().Get("clear") == "1"
	if clear {
		a, ok := h.who(r)
		if !ok || !a.may(RoleSupervisor) {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "clear data needs the HQ token or a supervisor's sign-in"})
			return
		}
		r = r.WithContext(withActor(r, a))
	}
	as, err := h.office.st.Attendees(id)
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "attendees unavailable", err)
		return
	}
	if clear {
		h.audit(r, "clear-view", "attendees of "+id, http.StatusOK, fmt.Sprintf("%d attendees shown in clear", len(as)))
	}
	out := make([]AttendeeView, 0, len(as))
	for _, a := range as {
		out = append(out, view(a, clear))
	}
	if r.URL.Query().Get("format") != "csv" {
		writeJSON(w, http.StatusOK, out)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", id+"-attendees.csv"))
	w.Write(issuing.BOM)
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	cw.Write([]string{"ticket_id", "name", "phone", "member_level", "ticket_class", "zone", "card_uid", "revoked", "code"})
	for _, v := range out {
		cw.Write([]string{v.Ticket, csvSafe(v.Name), csvSafe(v.Phone), csvSafe(v.MemberLevel), csvSafe(v.Class), v.Zone, v.CardUID, strconv.FormatBool(v.Revoked), v.Code})
	}
	cw.Flush()
}

// csvSafe keeps a spreadsheet from taking a field for a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@", rune(s[0])) {
		return "'" + s
	}
	return s
}

// AttendeeEdit is the body of PATCH /api/events/{event}/attendees/{ticket}.
type AttendeeEdit struct {
	Name        *string `json:"name"`
	Phone       *string `json:"phone"`
	MemberLevel *string `json:"member_level"`
	CardUID     *string `json:"card_uid"`
	Class       *string `json:"class"`
}

func ticketNumber(w http.ResponseWriter, r *http.Request, h *HQ) (uint64, bool) {
	n, err := strconv.ParseUint(strings.TrimSuffix(r.PathValue("ticket"), ".png"), 10, 64)
	if err != nil || n == 0 {
		h.fail(w, http.StatusBadRequest, "ticket: a ticket number", err)
		return 0, false
	}
	return n, true
}

// serveAttendeeEdit changes a holder's details (the code stays: it does
// not carry them) and publishes the event's manifest.
func (h *HQ) serveAttendeeEdit(w http.ResponseWriter, r *http.Request) {
	n, ok := ticketNumber(w, r, h)
	if !ok {
		return
	}
	var q AttendeeEdit
	if err := decodeBody(w, r, &q); err != nil {
		h.fail(w, http.StatusBadRequest, "body must be the fields to change", err)
		return
	}
	// Validate through the CSV rules, as a one-row file.
	id := r.PathValue("event")
	cur, err := h.office.st.Attendees(id)
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "attendees unavailable", err)
		return
	}
	var a *hqstore.Attendee
	for i := range cur {
		if cur[i].Number == n {
			a = &cur[i]
		}
	}
	if a == nil {
		h.fail(w, http.StatusNotFound, "no such ticket", nil)
		return
	}
	next := issuing.Attendee{Name: a.Name, Phone: a.Phone, MemberLevel: a.MemberLevel, CardUID: a.CardUID, Class: a.Class}
	for _, f := range []struct {
		dst *string
		src *string
	}{{&next.Name, q.Name}, {&next.Phone, q.Phone}, {&next.MemberLevel, q.MemberLevel}, {&next.CardUID, q.CardUID}, {&next.Class, q.Class}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.Write(issuing.Columns[:])
	cw.Write([]string{next.Name, next.Phone, next.MemberLevel, next.CardUID, next.Class})
	cw.Flush()
	im, err := issuing.ReadCSV(&buf)
	if err == nil {
		err = im.Err()
	}
	if err != nil {
		h.fail(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "line 2: "), err)
		return
	}
	valid := im.Rows[0]
	for _, o := range cur {
		if o.Number != n && valid.CardUID != "" && o.CardUID == valid.CardUID {
			h.fail(w, http.StatusConflict, "card_uid already holds ticket "+o.ID, nil)
			return
		}
	}
	updated, err := h.office.st.UpdateAttendee(id, n, func(x *hqstore.Attendee) error {
		x.Name, x.Phone, x.MemberLevel, x.CardUID, x.Class = valid.Name, valid.Phone, valid.MemberLevel, valid.CardUID, valid.Class
		x.Updated = time.Now().UTC()
		return nil
	})
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "attendee not changed", err)
		return
	}
	res, err := h.publish(r.Context(), id)
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "attendee changed, manifest not published", err)
		return
	}
	note(w, "ticket %s edited; manifest v%d", updated.ID, res.Version)
	writeJSON(w, http.StatusOK, map[string]any{"attendee": view(updated, false), "manifest": res})
}

// serveAttendeeRevoke revokes a ticket: the boxes online learn it at once
// (the signed fast path), the others from the event's next manifest.
func (h *HQ) serveAttendeeRevoke(w http.ResponseWriter, r *http.Request) {
	n, ok := ticketNumber(w, r, h)
	if !ok {
		return
	}
	id := r.PathValue("event")
	by := actorOf(r).id
	a, err := h.office.st.UpdateAttendee(id, n, func(a *hqstore.Attendee) error {
		if !a.Revoked {
			a.Revoked, a.RevokedAt, a.RevokedBy = true, time.Now().UTC(), by
		}
		return nil
	})
	if errors.Is(err, hqstore.ErrNotFound) {
		h.fail(w, http.StatusNotFound, "no such ticket", err)
		return
	}
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "revocation not kept", err)
		return
	}
	e, _, err := h.office.st.Event(id)
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "event unavailable", err)
		return
	}
	sent := 0
	if h.sync != nil {
		pairs, err := h.venues(e.Venue)
		if err != nil {
			h.fail(w, http.StatusInternalServerError, "fleet unavailable", err)
			return
		}
		for _, p := range pairs {
			if err := h.sync.Revoke(r.Context(), p[0], p[1], id, a.ID); err != nil {
				h.log.Warn("revocation fast path not sent; the manifest carries it", "venue", p[1], "err", err)
				continue
			}
			sent++
		}
	}
	res, err := h.publish(r.Context(), id)
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "revoked, manifest not published", err)
		return
	}
	note(w, "ticket %s revoked; fast path to %d venues; manifest v%d", a.ID, sent, res.Version)
	writeJSON(w, http.StatusOK, map[string]any{"event": id, "ticket": a.ID, "revoked": true, "venues": sent, "manifest_version": res.Version})
}

// eticket returns an attendee's e-ticket.
func (h *HQ) eticket(e hqstore.Event, a hqstore.Attendee) ([]byte, error) {
	when := ""
	if !e.Start.IsZero() {
		when = e.Start.In(venueZone).Format("2006-01-02 15:04")
	}
	if when != "" {
		when += " · " + e.Venue
	} else {
		when = e.Venue
	}
	detail := "No. " + a.ID
	for _, c := range e.Classes {
		if c.Name == a.Class {
			detail += " · " + c.Name
			if b := benefit(c); b != "" {
				detail += " · " + b
			}
		}
	}
	if a.Zone != "" {
		detail += " · " + a.Zone
	}
	et := issuing.ETicket{Code: a.Code, Event: e.Name, When: when, NameMasked: ticket.MaskName(a.Name), Detail: detail}
	return et.PNG()
}

// venueZone is the zone e-tickets and the sheet write times in: China's.
var venueZone = time.FixedZone("CST", 8*3600)

func (h *HQ) eventAndAttendees(w http.ResponseWriter, r *http.Request) (hqstore.Event, []hqstore.Attendee, bool) {
	id := r.PathValue("event")
	e, ok, err := h.office.st.Event(id)
	if err == nil && !ok {
		h.fail(w, http.StatusNotFound, "no such event", nil)
		return e, nil, false
	}
	var as []hqstore.Attendee
	if err == nil {
		as, err = h.office.st.Attendees(id)
	}
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "attendees unavailable", err)
		return e, nil, false
	}
	return e, as, true
}

// serveETicket serves one e-ticket: /api/events/{event}/tickets/{n}.png.
func (h *HQ) serveETicket(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.PathValue("file"), ".png") {
		h.fail(w, http.StatusNotFound, "tickets/{number}.png", nil)
		return
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(r.PathValue("file"), ".png"), 10, 64)
	if err != nil {
		h.fail(w, http.StatusBadRequest, "tickets/{number}.png", err)
		return
	}
	e, as, ok := h.eventAndAttendees(w, r)
	if !ok {
		return
	}
	for _, a := range as {
		if a.Number != n {
			continue
		}
		png, err := h.eticket(e, a)
		if err != nil {
			h.fail(w, http.StatusInternalServerError, "e-ticket not drawn", err)
			return
		}
		if r.URL.Query().Get("inline") != "1" {
			h.audit(r, "clear-view", fmt.Sprintf("e-ticket %s/%s", e.ID, a.ID), http.StatusOK, "e-ticket downloaded")
			w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", fmt.Sprintf("%s-%s.png", e.ID, a.ID)))
		}
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(png)
		return
	}
	h.fail(w, http.StatusNotFound, "no such ticket", nil)
}

// serveTicketsZip serves every e-ticket of the event that is not revoked,
// and tickets.csv, as one zip.
func (h *HQ) serveTicketsZip(w http.ResponseWriter, r *http.Request) {
	e, as, ok := h.eventAndAttendees(w, r)
	if !ok {
		return
	}
	h.audit(r, "clear-view", "e-tickets of "+e.ID, http.StatusOK, fmt.Sprintf("%d e-tickets downloaded as zip", len(as)))
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", e.ID+"-etickets.zip"))
	w.Header().Set("Cache-Control", "no-store")
	zw := zip.NewWriter(w)
	var list bytes.Buffer
	list.Write(issuing.BOM)
	cw := csv.NewWriter(&list)
	cw.UseCRLF = true
	cw.Write([]string{"ticket_id", "file", "name", "phone", "member_level", "ticket_class", "code"})
	for _, a := range as {
		if a.Revoked {
			continue
		}
		png, err := h.eticket(e, a)
		if err != nil {
			h.log.Error("e-ticket not drawn; zip cut short", "event", e.ID, "ticket", a.ID, "err", err)
			return
		}
		name := fmt.Sprintf("etickets/%s.png", a.ID)
		f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Modified: time.Now()})
		if err != nil {
			return
		}
		if _, err := f.Write(png); err != nil {
			return // the client left
		}
		cw.Write([]string{a.ID, name, csvSafe(a.Name), csvSafe(a.Phone), csvSafe(a.MemberLevel), csvSafe(a.Class), a.Code})
	}
	cw.Flush()
	if f, err := zw.Create("tickets.csv"); err == nil {
		io.Copy(f, &list)
	}
	zw.Close() // the client may be gone; nothing to do then
}

var sheetPage = template.Must(template.New("sheet").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{{.Event.Name}} · e-tickets</title>
<link rel="stylesheet" href="/sheet.css"></head>
<body><header><h1>{{.Event.Name}}</h1><p>{{.When}} · {{.Event.Venue}} · {{len .Tickets}} 张 / tickets</p></header>
<main class="sheet">{{range .Tickets}}<figure><img src="/api/events/{{$.Event.ID}}/tickets/{{.ID}}.png?inline=1" alt="ticket {{.ID}}">
<figcaption>No. {{.ID}} · {{.Name}}{{if .Class}} · {{.Class}}{{end}}</figcaption></figure>{{end}}</main></body></html>
`))

// serveSheet is a printable page of the event's e-tickets, eight to an A4
// page, holders masked.
func (h *HQ) serveSheet(w http.ResponseWriter, r *http.Request) {
	e, as, ok := h.eventAndAttendees(w, r)
	if !ok {
		return
	}
	type row struct{ ID, Name, Class string }
	var rows []row
	for _, a := range as {
		if !a.Revoked {
			rows = append(rows, row{a.ID, ticket.MaskName(a.Name), a.Class})
		}
	}
	when := ""
	if !e.Start.IsZero() {
		when = e.Start.In(venueZone).Format("2006-01-02 15:04")
	}
	h.audit(r, "clear-view", "ticket sheet of "+e.ID, http.StatusOK, fmt.Sprintf("%d e-tickets on the sheet", len(rows)))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'")
	sheetPage.Execute(w, map[string]any{"Event": e, "When": when, "Tickets": rows})
}
