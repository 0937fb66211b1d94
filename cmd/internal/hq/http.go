package hq

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"venuebox/cmd/internal/manifest"
	"venuebox/store/hqstore"
	"venuebox/sync/hqsync"
	"venuebox/sync/wire"
)

// Handler serves HQ's HTTP API (DESIGN.md §3): attendance, conflicts and
// the fleet to read; manifests and revocations to write, with the token.
func (h *HQ) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/events/{event}/attendance", h.serveAttendance)
	mux.HandleFunc("GET /api/events/{event}/conflicts", h.serveConflicts)
	mux.HandleFunc("GET /api/boxes", h.serveBoxes)
	mux.HandleFunc("POST /api/manifests", h.allow(RoleOperator, h.serveManifest))
	mux.HandleFunc("POST /api/events/{event}/revoke", h.allow(RoleOperator, h.serveRevoke))
	h.mountOffice(mux)
	h.mountEnrol(mux)
	return mux
}

// Attendance is one check-in as HQ reports it.
type Attendance struct {
	Ticket     string    `json:"ticket"`
	Box        string    `json:"box"`
	Gate       string    `json:"gate"`
	Verdict    string    `json:"verdict"`
	Reason     string    `json:"reason"`
	Time       time.Time `json:"time"`
	TempC      *float64  `json:"temp_c,omitempty"`
	Historical bool      `json:"historical,omitempty"`
	Nonce      string    `json:"nonce"`
}

func (h *HQ) serveAttendance(w http.ResponseWriter, r *http.Request) {
	cs, err := h.Store.Attendance(r.PathValue("event"))
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "attendance unavailable", err)
		return
	}
	rows := make([]Attendance, 0, len(cs))
	for _, c := range cs {
		rows = append(rows, Attendance{Ticket: c.Ticket, Box: c.Box, Gate: c.Gate, Verdict: c.Verdict, Reason: c.Reason,
			Time: c.At, TempC: c.TempC, Historical: c.Historical, Nonce: c.Nonce})
	}
	if r.URL.Query().Get("format") != "csv" {
		writeJSON(w, http.StatusOK, rows)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", r.PathValue("event")+"-attendance.csv"))
	cw := csv.NewWriter(w)
	cw.Write([]string{"ticket", "box", "gate", "verdict", "reason", "time", "temp_c", "historical", "nonce"})
	for _, a := range rows {
		temp := ""
		if a.TempC != nil {
			temp = strconv.FormatFloat(*a.TempC, 'f', 1, 64)
		}
		cw.Write([]string{a.Ticket, a.Box, a.Gate, a.Verdict, a.Reason, a.Time.Format(time.RFC3339Nano), temp, strconv.FormatBool(a.Historical), a.Nonce})
	}
	cw.Flush() // a write error means the client left
}

func (h *HQ) serveConflicts(w http.ResponseWriter, r *http.Request) {
	cf, err := h.Store.Conflicts(r.PathValue("event"))
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "conflicts unavailable", err)
		return
	}
	if cf == nil {
		cf = []hqstore.Conflict{}
	}
	writeJSON(w, http.StatusOK, cf)
}

// BoxStatus is one box of the fleet as /api/boxes reports it.
type BoxStatus struct {
	Box             string            `json:"box"`
	Org             string            `json:"org"`
	Venue           string            `json:"venue"`
	Online          bool              `json:"online"`
	LastSeen        time.Time         `json:"last_seen"`
	Queued          int               `json:"queued"`
	ManifestVersion map[string]uint64 `json:"manifest_version"`
	ClockOffsetMS   int64             `json:"clock_offset_ms"`
	ClockDrift      bool              `json:"clock_drift"`
	Gaps            int               `json:"gaps"`
	// Audit is the box's audit chain as HQ verified it; absent until the
	// box sent any.
	Audit *AuditStatus `json:"audit,omitempty"`
}

func (h *HQ) serveBoxes(w http.ResponseWriter, r *http.Request) {
	boxes, err := h.Store.Boxes()
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "fleet unavailable", err)
		return
	}
	audit, err := h.Store.AuditStates()
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "audit states unavailable", err)
		return
	}
	out := make([]BoxStatus, 0, len(boxes))
	for _, b := range boxes {
		out = append(out, BoxStatus{Box: b.Box, Org: b.Org, Venue: b.Venue, Online: b.Online, LastSeen: b.LastSeen,
			Queued: b.Queued, ManifestVersion: b.Manifests, ClockOffsetMS: b.OffsetMS, ClockDrift: hqsync.Drifting(b), Gaps: len(b.Gaps),
			Audit: auditStatus(audit, b.Box)})
	}
	writeJSON(w, http.StatusOK, out)
}

// serveManifest takes a signed snapshot (as `venuebox issue` writes it),
// keeps it and pushes it to the boxes of its venue.
func (h *HQ) serveManifest(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, manifest.MaxSize))
	if err != nil {
		h.fail(w, http.StatusBadRequest, "manifest unreadable or too large", err)
		return
	}
	m, delta, err := h.lib.add(raw)
	if err != nil {
		h.fail(w, http.StatusBadRequest, "manifest refused: "+err.Error(), err)
		return
	}
	h.log.Info("manifest taken", "event", m.Event.ID, "version", m.Version, "tickets", len(m.Tickets), "delta", delta != nil)
	push := hqsync.Manifest{Event: m.Event.ID, Version: m.Version, Raw: raw}
	if delta != nil {
		push = *delta
	}
	pushed := h.push(r.Context(), m.Event.Venue, push)
	writeJSON(w, http.StatusOK, map[string]any{"event": m.Event.ID, "version": m.Version, "tickets": len(m.Tickets), "venues_pushed": pushed})
}

// push publishes a manifest to the boxes of venue ("" for every venue of
// the fleet) and returns to how many venues. A box that misses it asks for
// what it lacks when it connects.
func (h *HQ) push(ctx context.Context, venue string, mf hqsync.Manifest) int {
	if !h.pub.share(ctx, mf.Event) {
		return 0 // another replica leads: it publishes the shared snapshot within a second
	}
	if h.sync == nil {
		return 0
	}
	pairs, err := h.venues(venue)
	if err != nil {
		h.log.Error("fleet unavailable; manifest not pushed", "err", err)
		return 0
	}
	pushed := 0
	for _, p := range pairs {
		if err := h.sync.PublishManifest(ctx, p[0], p[1], mf); err != nil {
			h.log.Warn("manifest not pushed; boxes ask for it when they connect", "venue", p[1], "err", err)
			continue
		}
		pushed++
	}
	if pushed == len(pairs) {
		h.pub.published(ctx, mf)
	}
	return pushed
}

// serveRevoke sends a revocation down the fast path to every venue of the
// fleet: {"tickets": ["12", "40"], "venue": "optional"}.
func (h *HQ) serveRevoke(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Tickets []string `json:"tickets"`
		Venue   string   `json:"venue"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || len(req.Tickets) == 0 {
		h.fail(w, http.StatusBadRequest, `body must be {"tickets": ["id", ...]}`, err)
		return
	}
	event := r.PathValue("event")
	if err := wire.ValidID(event); err != nil {
		h.fail(w, http.StatusBadRequest, "bad event id", err)
		return
	}
	if h.sync == nil {
		h.fail(w, http.StatusServiceUnavailable, "no broker configured", nil)
		return
	}
	pairs, err := h.venues(req.Venue)
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "fleet unavailable", err)
		return
	}
	// Durably first: the next version of the event's manifest carries the
	// revocation for boxes offline now; then the fast path for those online.
	delta, err := h.lib.revoke(event, req.Tickets...)
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "revocation not kept", err)
		return
	}
	for _, p := range pairs {
		if err := h.sync.Revoke(r.Context(), p[0], p[1], event, req.Tickets...); err != nil {
			h.fail(w, http.StatusBadGateway, "revocation not sent", err)
			return
		}
	}
	version := uint64(0)
	if delta != nil {
		version = delta.Version
		h.push(r.Context(), req.Venue, *delta)
	}
	h.log.Info("tickets revoked", "event", event, "tickets", len(req.Tickets), "venues", len(pairs), "manifest_version", version)
	writeJSON(w, http.StatusOK, map[string]any{"event": event, "revoked": req.Tickets, "venues": len(pairs), "manifest_version": version})
}

func (h *HQ) fail(w http.ResponseWriter, code int, msg string, err error) {
	h.log.Warn("request failed", "status", code, "msg", msg, "err", err)
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do then
}
