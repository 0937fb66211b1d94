package box

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"venuebox/cmd/internal/ui"
)

// Status is what GET /api/status returns.
type Status struct {
	Box    string `json:"box"`
	Venue  string `json:"venue"`
	Org    string `json:"org"`
	Online bool   `json:"online"`
	Queued int    `json:"queued"`
	Boot   uint64 `json:"boot"`
	// ManifestVersion is the newest manifest version applied to any of
	// the box's events; Manifests gives it per event.
	ManifestVersion uint64            `json:"manifest_version"`
	Manifests       map[string]uint64 `json:"manifests"`
	Events          []EventStatus     `json:"events"`
	Devices         map[string]string `json:"devices"`
	Counts          struct {
		Admitted int `json:"admitted"`
		Rejected int `json:"rejected"`
		Held     int `json:"held"`
	} `json:"counts"`
	Time time.Time `json:"time"`
	// LastSync is when HQ last acknowledged check-ins; ManifestAt when the
	// oldest of the current events' ticket lists was applied; Staff
	// whether staff can log in at the kiosk.
	LastSync   *time.Time `json:"last_sync,omitempty"`
	ManifestAt *time.Time `json:"manifest_at,omitempty"`
	Staff      bool       `json:"staff"`
}

// EventStatus is one event the box serves.
type EventStatus struct {
	ID       string `json:"id"`
	Name     string `json:"name,omitempty"`
	Version  uint64 `json:"version"`
	Expected int    `json:"expected"`
}

// Status reports the box's state from the store.
func (b *Box) Status() (Status, error) {
	s := Status{Box: b.id.Box, Venue: b.id.Venue, Org: b.id.Org, Online: b.opts.Online != nil && b.opts.Online(),
		Boot: b.opts.Store.Boot(), Manifests: map[string]uint64{}, Devices: map[string]string{}, Events: []EventStatus{}, Time: b.opts.Now().UTC()}
	var err error
	if s.Queued, err = b.opts.Store.Queued(); err != nil {
		return s, err
	}
	c, err := b.opts.Store.Counts()
	if err != nil {
		return s, err
	}
	s.Counts.Admitted, s.Counts.Rejected, s.Counts.Held = c.Admitted, c.Rejected, c.Held
	for _, e := range *b.events.Load() {
		s.Manifests[e.ID] = e.Version
		s.ManifestVersion = max(s.ManifestVersion, e.Version)
		s.Events = append(s.Events, EventStatus{ID: e.ID, Name: e.Name, Version: e.Version, Expected: e.Tickets})
	}
	b.mu.Lock()
	for k, v := range b.devices {
		s.Devices[k] = v
	}
	b.mu.Unlock()
	b.kioskStatus(&s)
	return s, nil
}

// Handler serves the box's HTTP API (DESIGN.md §3): /api/status,
// /api/stream, /api/scan, the staff endpoints under /api/staff/ and the
// kiosk screen at /.
func (b *Box) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/status", b.serveStatus)
	mux.HandleFunc("GET /api/stream", b.serveStream)
	mux.HandleFunc("POST /api/scan", b.serveScan)
	b.staffRoutes(mux) // /api/staff/..., staff.go
	mux.Handle("GET /", ui.Kiosk())
	return mux
}

func (b *Box) serveStatus(w http.ResponseWriter, r *http.Request) {
	s, err := b.Status()
	if err != nil {
		b.log.Error("status", "err", err)
		httpError(w, http.StatusInternalServerError, "store unavailable")
		return
	}
	writeJSON(w, http.StatusOK, s)
}

func (b *Box) serveScan(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Code string `json:"code"`
		Card string `json:"card"`
	}
	body := http.MaxBytesReader(w, r.Body, 4<<10)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		b.log.Warn("bad scan request", "err", err)
		httpError(w, http.StatusBadRequest, "body must be {\"code\": \"...\"} or {\"card\": \"...\"} under 4 KiB")
		return
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		httpError(w, http.StatusBadRequest, "one JSON object only")
		return
	}
	kind, input := Code, req.Code
	if req.Card != "" {
		if req.Code != "" {
			httpError(w, http.StatusBadRequest, "give a code or a card, not both")
			return
		}
		kind, input = Card, req.Card
	}
	v, err := b.Present(r.Context(), kind, input)
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, "the decision could not be recorded")
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (b *Box) serveStream(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		httpError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	ch := b.stream.subscribe()
	defer b.stream.unsubscribe(ch)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 1000\n: connected\n\n")
	flusher.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case data := <-ch:
			fmt.Fprintf(w, "event: verdict\ndata: %s\n\n", data)
			flusher.Flush()
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
			flusher.Flush()
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do then
}

func httpError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
