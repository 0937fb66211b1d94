package hq

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"venuebox/store"
	"venuebox/store/hqstore"
	"venuebox/sync/wire"
)

// Who may do what at HQ. Reading masked data (attendance, the fleet, the
// dashboard) needs nothing: HQ listens on the institution's own network.
// Writing needs an operator; clear names, phones and codes (attendee lists
// in clear, e-tickets, the ticket sheet) a supervisor. The HQ token is a
// supervisor ("token"). Every write and every view of clear data is an
// entry in HQ's own audit log, with who did it.
const (
	RoleOperator   = "operator"
	RoleSupervisor = "supervisor"
)

const (
	sessionCookie = "vbhq_session"
	sessionTTL    = 8 * time.Hour
	pbkdf2Rounds  = 200_000
)

type actor struct {
	id   string // "token" or the operator's id
	role string
}

func (a actor) may(role string) bool {
	return a.role == RoleSupervisor || a.role == role
}

type actorKey struct{}

// actorOf returns who made the request, as allow found it.
func actorOf(r *http.Request) actor {
	a, _ := r.Context().Value(actorKey{}).(actor)
	return a
}

// sessions are the dashboard's signed-in browsers, in memory: a restart
// signs everyone out.
type sessions struct {
	mu sync.Mutex
	m  map[string]session
}

type session struct {
	actor
	expires time.Time
}

func (s *sessions) open(a actor, now time.Time) string {
	b := make([]byte, 24)
	rand.Read(b) // crypto/rand.Read never fails
	id := hex.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]session{}
	}
	for k, v := range s.m {
		if now.After(v.expires) {
			delete(s.m, k)
		}
	}
	s.m[id] = session{a, now.Add(sessionTTL)}
	return id
}

func (s *sessions) get(id string, now time.Time) (actor, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[id]
	if !ok || now.After(v.expires) {
		return actor{}, false
	}
	v.expires = now.Add(sessionTTL)
	s.m[id] = v
	return v.actor, true
}

func (s *sessions) close(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// who returns the request's actor: the bearer token, or a session cookie
// (only on requests from HQ's own pages, so another site cannot use it).
func (h *HQ) who(r *http.Request) (actor, bool) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		if subtle.ConstantTimeCompare([]byte(auth), []byte("Bearer "+h.token)) == 1 {
			return actor{"token", RoleSupervisor}, true
		}
		return actor{}, false
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || !sameOrigin(r) {
		return actor{}, false
	}
	return h.office.sessions.get(c.Value, time.Now())
}

// sameOrigin refuses a cookie sent by another site's page: the browser's
// Sec-Fetch-Site or Origin must say it is HQ's own.
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

// allow serves next to a request from an actor with role (either one for
// RoleOperator), and records a write in HQ's audit log with its outcome.
func (h *HQ) allow(role string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, ok := h.who(r)
		if !ok || !a.may(role) {
			h.log.Warn("request refused: not signed in or not allowed", "path", r.URL.Path, "remote", r.RemoteAddr, "role", role)
			code, msg := http.StatusUnauthorized, "the HQ token or an operator sign-in is required"
			if ok {
				code, msg = http.StatusForbidden, "a "+role+" may do this, "+a.id+" is an "+a.role
			} else {
				w.Header().Set("WWW-Authenticate", `Bearer realm="venuebox-hq"`)
			}
			writeJSON(w, code, map[string]string{"error": msg})
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), actorKey{}, a))
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next(w, r)
			return
		}
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next(rec, r)
		h.audit(r, "action", r.Method+" "+r.URL.Path, rec.code, rec.note)
	}
}

// audit appends an entry to HQ's own log. A log that cannot be written is
// logged loudly; the action itself has happened.
func (h *HQ) audit(r *http.Request, kind, subject string, code int, detail string) {
	a := actorOf(r)
	verdict := "ok"
	if code >= 400 {
		verdict = "refused"
	}
	e := store.Entry{At: time.Now(), Kind: kind, Actor: a.id, Subject: clipText(subject, 200), Verdict: verdict,
		Reason: fmt.Sprint(code), Detail: clipText(detail, 1000), Input: remoteHash(r)}
	if h.office.st == nil {
		h.log.Info("HQ action", "kind", kind, "actor", a.id, "subject", subject, "status", code, "detail", detail)
		return
	}
	if _, err := h.office.st.AppendLog(e); err != nil {
		h.log.Error("HQ audit log not written", "kind", kind, "subject", subject, "err", err)
	}
}

// remoteHash names the client in the log without its address in clear.
func remoteHash(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = host[:i]
	}
	sum := sha256.Sum256([]byte(host))
	return "remote-" + hex.EncodeToString(sum[:4])
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// statusRecorder keeps a handler's status code, and a note for the log.
type statusRecorder struct {
	http.ResponseWriter
	code int
	note string
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// note adds a line to the audit entry of the request being served.
func note(w http.ResponseWriter, format string, args ...any) {
	if s, ok := w.(*statusRecorder); ok {
		if s.note != "" {
			s.note += "; "
		}
		s.note += fmt.Sprintf(format, args...)
	}
}

// serveSessionOpen signs a browser in with the token or an operator's
// password: {"token"} or {"operator", "password"}.
func (h *HQ) serveSessionOpen(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token    string `json:"token"`
		Operator string `json:"operator"`
		Password string `json:"password"`
	}
	if err := decodeBody(w, r, &req); err != nil {
		h.fail(w, http.StatusBadRequest, `body must be {"token"} or {"operator", "password"}`, err)
		return
	}
	var a actor
	switch {
	case req.Token != "" && subtle.ConstantTimeCompare([]byte(req.Token), []byte(h.token)) == 1:
		a = actor{"token", RoleSupervisor}
	case req.Operator != "":
		o, ok, err := h.office.st.Operator(req.Operator)
		if err != nil {
			h.fail(w, http.StatusInternalServerError, "operators unavailable", err)
			return
		}
		if ok && subtle.ConstantTimeCompare(pbkdf2Hash(req.Password, o.Salt), o.Hash) == 1 {
			a = actor{o.ID, o.Role}
		}
	}
	r = r.WithContext(context.WithValue(r.Context(), actorKey{}, actor{id: clipText(req.Operator, 64)}))
	if a.id == "" {
		h.audit(r, "session", "sign-in", http.StatusUnauthorized, "wrong token or password")
		time.Sleep(300 * time.Millisecond) // slows guessing
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "wrong token or password"})
		return
	}
	id := h.office.sessions.open(a, time.Now())
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL / time.Second), Secure: r.TLS != nil})
	r = r.WithContext(context.WithValue(r.Context(), actorKey{}, a))
	h.audit(r, "session", "sign-in", http.StatusOK, "role "+a.role)
	writeJSON(w, http.StatusOK, map[string]string{"actor": a.id, "role": a.role})
}

func (h *HQ) serveSessionGet(w http.ResponseWriter, r *http.Request) {
	a, ok := h.who(r)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "not signed in"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"actor": a.id, "role": a.role})
}

func (h *HQ) serveSessionClose(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		h.office.sessions.close(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

func pbkdf2Hash(password string, salt []byte) []byte {
	k, _ := pbkdf2.Key(sha256.New, password, salt, pbkdf2Rounds, 32) // only fails on a bad key length
	return k
}

// serveOperatorPut creates or replaces an operator account (supervisor):
// {"password", "role"}.
func (h *HQ) serveOperatorPut(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Password string `json:"password"`
		Role     string `json:"role"`
	}
	id := r.PathValue("operator")
	if err := decodeBody(w, r, &req); err != nil || wire.ValidID(id) != nil || id == "token" ||
		len(req.Password) < 10 || (req.Role != RoleOperator && req.Role != RoleSupervisor) {
		h.fail(w, http.StatusBadRequest, `PUT /api/operators/{id} with {"password" (10 or more characters), "role": "operator" or "supervisor"}`, err)
		return
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	o := hqstore.Operator{ID: id, Role: req.Role, Salt: salt, Hash: pbkdf2Hash(req.Password, salt), Created: time.Now().UTC()}
	if err := h.office.st.PutOperator(o); err != nil {
		h.fail(w, http.StatusInternalServerError, "operator not stored", err)
		return
	}
	note(w, "operator %s, role %s", id, req.Role)
	writeJSON(w, http.StatusOK, map[string]string{"operator": id, "role": req.Role})
}

// serveLog shows HQ's own audit log, newest first (supervisor), and
// whether its chain verifies: ?before=SEQ&limit=N.
func (h *HQ) serveLog(w http.ResponseWriter, r *http.Request) {
	before, limit := uintParam(r, "before", 0), int(uintParam(r, "limit", 200))
	es, err := h.office.st.Log(before, min(max(limit, 1), 1000))
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "log unavailable", err)
		return
	}
	n, verr := h.office.st.VerifyLog()
	status := map[string]any{"entries": n, "ok": verr == nil}
	if verr != nil {
		status["error"] = verr.Error()
	}
	if es == nil {
		es = []store.Entry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"chain": status, "log": es})
}

// decodeBody reads a small JSON body strictly.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func withActor(r *http.Request, a actor) context.Context {
	return context.WithValue(r.Context(), actorKey{}, a)
}
