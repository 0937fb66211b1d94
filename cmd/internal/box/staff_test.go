package box

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/ticket"
	"venuebox/device/sim"
	"venuebox/store"
)

// clock is a settable wall clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const (
	testStaff = "duty-manager"
	testPIN   = "8642"
	testCard  = "04:A1:B2:C3:D4:E5:F6"
)

// staffFixture is a box with staff configured, its clock and its HTTP API.
type staffFixture struct {
	*fixture
	clock  *clock
	srv    *httptest.Server
	signal *sim.Signal
	sent   []store.CheckIn // what Recorded was told
	mu     sync.Mutex
}

func newStaffFixture(t *testing.T) *staffFixture {
	t.Helper()
	f := &staffFixture{fixture: newFixture(t, defaultPolicy()), clock: &clock{now: time.Now()}, signal: &sim.Signal{}}
	o := &f.box.opts
	o.Now = f.clock.Now
	o.Signal = f.signal
	o.Recorded = func(c store.CheckIn) {
		f.mu.Lock()
		f.sent = append(f.sent, c)
		f.mu.Unlock()
	}
	o.Staff = config.Staff{PINs: map[string]string{testStaff: config.HashPIN(testPIN), "other": config.HashPIN("1357")},
		Cards: []string{config.HashCard(testCard)}, MaxAttempts: 3, Lockout: 5 * time.Minute, Session: 10 * time.Minute}
	f.srv = httptest.NewServer(f.box.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

// client is a browser: it keeps cookies.
func (f *staffFixture) client(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

type reply struct {
	code int
	body map[string]any
	raw  string
	resp *http.Response
}

func (f *staffFixture) call(t *testing.T, c *http.Client, method, path, body string, header ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{code: resp.StatusCode, raw: string(raw), resp: resp}
	json.Unmarshal(raw, &r.body) // not every reply is an object; raw keeps it
	return r
}

func (f *staffFixture) login(t *testing.T, c *http.Client) {
	t.Helper()
	if r := f.call(t, c, "POST", "/api/staff/login", `{"pin":"`+testPIN+`"}`); r.code != http.StatusOK || r.body["staff"] != testStaff {
		t.Fatalf("login: %d %s", r.code, r.raw)
	}
}

func (f *staffFixture) audit(t *testing.T) []store.Entry {
	t.Helper()
	es, err := f.store.AuditLog(0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestStaff_endpointsRefuseWithoutSession(t *testing.T) {
	f := newStaffFixture(t)
	anon := f.client(t)
	bogus := f.client(t)
	u, err := url.Parse(f.srv.URL + "/api/staff/")
	if err != nil {
		t.Fatal(err)
	}
	bogus.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: "forged", Path: "/api/staff"}})
	for _, c := range []*http.Client{anon, bogus} {
		for _, ep := range []struct{ method, path, body string }{
			{"GET", "/api/staff/session", ""},
			{"GET", "/api/staff/lookup?q=1234", ""},
			{"GET", "/api/staff/recent", ""},
			{"POST", "/api/staff/admit", `{"event":"demo-briefing","ticket":"1","note":"x"}`},
			{"POST", "/api/staff/hold", `{"nonce":"x","admit":true}`},
			{"POST", "/api/staff/undo", `{"nonce":"x","note":"x"}`},
		} {
			if r := f.call(t, c, ep.method, ep.path, ep.body); r.code != http.StatusUnauthorized {
				t.Errorf("%s %s without a session: %d %s", ep.method, ep.path, r.code, r.raw)
			}
		}
	}
	if q, _ := f.store.Queued(); q != 0 {
		t.Errorf("refused requests recorded %d check-ins", q)
	}
}

func TestStaff_loginLockoutAndExpiry(t *testing.T) {
	f := newStaffFixture(t)
	c := f.client(t)
	for i, want := range []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusLocked} {
		r := f.call(t, c, "POST", "/api/staff/login", `{"pin":"0000"}`)
		if r.code != want {
			t.Fatalf("wrong PIN %d: %d %s", i+1, r.code, r.raw)
		}
		if want == http.StatusUnauthorized && r.body["attempts_left"] != float64(2-i) {
			t.Errorf("wrong PIN %d: %s", i+1, r.raw)
		}
	}
	// Locked: the right PIN, and a staff card, are refused too.
	if r := f.call(t, c, "POST", "/api/staff/login", `{"pin":"`+testPIN+`"}`); r.code != http.StatusLocked || r.resp.Header.Get("Retry-After") == "" {
		t.Fatalf("right PIN while locked: %d %s", r.code, r.raw)
	}
	if r := f.call(t, c, "POST", "/api/staff/login", `{"card":"`+testCard+`"}`); r.code != http.StatusLocked {
		t.Fatalf("card while locked: %d", r.code)
	}
	f.clock.Add(5*time.Minute + time.Second)
	r := f.call(t, c, "POST", "/api/staff/login", `{"pin":"`+testPIN+`"}`)
	if r.code != http.StatusOK || r.body["staff"] != testStaff {
		t.Fatalf("login after the lockout: %d %s", r.code, r.raw)
	}
	var cookie *http.Cookie
	for _, ck := range r.resp.Cookies() {
		if ck.Name == sessionCookie {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/api/staff" || len(cookie.Value) < 40 {
		t.Fatalf("session cookie %+v", cookie)
	}
	if r := f.call(t, c, "GET", "/api/staff/session", ""); r.code != http.StatusOK || r.body["staff"] != testStaff {
		t.Fatalf("session: %d %s", r.code, r.raw)
	}
	// Activity extends the session; the screen's own refreshes do not.
	f.clock.Add(9 * time.Minute)
	if r := f.call(t, c, "GET", "/api/staff/recent", ""); r.code != http.StatusOK {
		t.Fatalf("recent at 9 min: %d", r.code)
	}
	f.clock.Add(9 * time.Minute)
	if r := f.call(t, c, "GET", "/api/staff/recent", "", autoHeader, "1"); r.code != http.StatusOK {
		t.Fatalf("refresh at 18 min: %d", r.code)
	}
	f.clock.Add(time.Minute + time.Second)
	if r := f.call(t, c, "GET", "/api/staff/recent", ""); r.code != http.StatusUnauthorized {
		t.Fatalf("after 10 min idle: %d", r.code)
	}
	// A staff card logs in, known by its hash's start, never its UID.
	r = f.call(t, c, "POST", "/api/staff/login", `{"card":"04a1b2c3d4e5f6"}`)
	staff, _ := r.body["staff"].(string)
	if r.code != http.StatusOK || !strings.HasPrefix(staff, "card-") || strings.Contains(strings.ToUpper(staff), "04A1B2") {
		t.Fatalf("card login: %d %s", r.code, r.raw)
	}
	if r := f.call(t, c, "POST", "/api/staff/logout", "{}"); r.code != http.StatusOK {
		t.Fatalf("logout: %d", r.code)
	}
	if r := f.call(t, c, "GET", "/api/staff/session", ""); r.code != http.StatusUnauthorized {
		t.Fatalf("session after logout: %d", r.code)
	}
	var details []string
	for _, e := range f.audit(t) {
		if e.Kind == "staff" {
			details = append(details, e.Actor+": "+e.Detail)
		}
	}
	want := []string{
		"gate-1: login refused: wrong PIN (1 of 3)",
		"gate-1: login refused: wrong PIN (2 of 3)",
		"gate-1: login refused: wrong PIN (3 of 3)",
		"gate-1: login locked for 5m0s after 3 wrong attempts",
		"duty-manager: login by PIN",
		"duty-manager: logged out after 10m0s without activity",
		staff + ": login by card",
		staff + ": logout",
	}
	if strings.Join(details, "\n") != strings.Join(want, "\n") {
		t.Errorf("staff audit entries:\n%s\nwant\n%s", strings.Join(details, "\n"), strings.Join(want, "\n"))
	}
	for _, e := range f.audit(t) {
		if strings.Contains(e.Detail, testPIN) || strings.Contains(e.Detail, "0000") {
			t.Errorf("a PIN in the audit log: %+v", e)
		}
	}
}

func TestStaff_refusesCrossOriginAndForms(t *testing.T) {
	f := newStaffFixture(t)
	c := f.client(t)
	if r := f.call(t, c, "POST", "/api/staff/login", `{"pin":"`+testPIN+`"}`, "Origin", "http://evil.example"); r.code != http.StatusForbidden {
		t.Errorf("cross-origin login: %d", r.code)
	}
	if r := f.call(t, c, "POST", "/api/staff/login", `{"pin":"`+testPIN+`"}`, "Content-Type", "text/plain"); r.code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain login: %d", r.code)
	}
	f.login(t, c)
	if r := f.call(t, c, "GET", "/api/staff/recent", "", "Origin", "http://evil.example"); r.code != http.StatusForbidden {
		t.Errorf("cross-origin read: %d", r.code)
	}
	if r := f.call(t, c, "GET", "/api/staff/recent", "", "Origin", f.srv.URL); r.code != http.StatusOK {
		t.Errorf("same-origin read: %d", r.code)
	}
}

func TestStaff_offWithoutStaff(t *testing.T) {
	f := newStaffFixture(t)
	f.box.opts.Staff = config.Staff{}
	if r := f.call(t, f.client(t), "POST", "/api/staff/login", `{"pin":"1234"}`); r.code != http.StatusForbidden {
		t.Errorf("login with no staff configured: %d", r.code)
	}
	if s, err := f.box.Status(); err != nil || s.Staff {
		t.Errorf("status says staff %v (%v)", s.Staff, err)
	}
}

// demoHolder is the holder DemoManifest gives ticket i.
func demoHolder(i int) ticket.Holder {
	family, given := []rune("王李张刘陈杨黄赵吴周"), []string{"伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军"}
	return ticket.Holder{Name: string(family[i%len(family)]) + given[i%len(given)], Phone: fmt.Sprintf("138%08d", i*7919%100000000)}
}

func TestStaff_lookupShowsOnlyMaskedForms(t *testing.T) {
	f := newStaffFixture(t)
	c := f.client(t)
	f.login(t, c)
	f.present(t, Code, f.codes[4]) // ticket 5 admitted
	lookup := func(q string) []Holder {
		t.Helper()
		r := f.call(t, c, "GET", "/api/staff/lookup?q="+url.QueryEscape(q), "")
		if r.code != http.StatusOK {
			t.Fatalf("lookup %q: %d %s", q, r.code, r.raw)
		}
		for i := 1; i <= 20; i++ {
			h := demoHolder(i)
			if strings.Contains(r.raw, h.Name) || strings.Contains(r.raw, h.Phone) {
				t.Errorf("lookup %q shows ticket %d's clear data: %s", q, i, r.raw)
			}
		}
		var out struct{ Results []Holder }
		json.Unmarshal([]byte(r.raw), &out)
		return out.Results
	}
	h5 := demoHolder(5)
	last4 := h5.Phone[len(h5.Phone)-4:]
	var want []string
	for i := 1; i <= 20; i++ {
		if strings.HasSuffix(demoHolder(i).Phone, last4) {
			want = append(want, fmt.Sprint(i))
		}
	}
	var got []string
	for _, h := range lookup(last4) {
		got = append(got, h.Ticket)
		if h.Ticket == "5" && (h.AdmittedAt == nil || h.AdmittedGate != "gate-1" || h.Phone != ticket.MaskPhone(h5.Phone)) {
			t.Errorf("ticket 5: %+v", h)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("by %s: tickets %v, want %v", last4, got, want)
	}
	// A full name finds the masked forms it fits: 刘秀英 is 刘*英, as are
	// tickets 3 and 13.
	got = nil
	for _, h := range lookup(demoHolder(3).Name) {
		got = append(got, h.Ticket+" "+h.Name)
	}
	if strings.Join(got, ",") != "13 刘*英,3 刘*英" {
		t.Errorf("by name: %v", got)
	}
	if n := len(lookup("刘")); n != 2 {
		t.Errorf("by family name: %d", n)
	}
	if n := len(lookup("nobody")); n != 0 {
		t.Errorf("nobody: %d", n)
	}
	for _, bad := range []string{"", "刘*英", strings.Repeat("x", 33)} {
		if r := f.call(t, c, "GET", "/api/staff/lookup?q="+url.QueryEscape(bad), ""); r.code != http.StatusBadRequest {
			t.Errorf("lookup %q: %d", bad, r.code)
		}
	}
	for _, e := range f.audit(t) {
		if strings.Contains(e.Detail, last4) || strings.Contains(e.Detail, "刘") {
			t.Errorf("a lookup query in the audit log: %+v", e)
		}
	}
}

func TestStaff_overrideHoldUndo(t *testing.T) {
	f := newStaffFixture(t)
	c := f.client(t)
	f.login(t, c)

	// Admit by hand: a reason is required.
	if r := f.call(t, c, "POST", "/api/staff/admit", `{"event":"demo-briefing","ticket":"7","note":"  "}`); r.code != http.StatusBadRequest {
		t.Fatalf("override without a reason: %d", r.code)
	}
	if r := f.call(t, c, "POST", "/api/staff/admit", `{"event":"demo-briefing","ticket":"999","note":"x"}`); r.code != http.StatusNotFound {
		t.Fatalf("override of no ticket: %d", r.code)
	}
	r := f.call(t, c, "POST", "/api/staff/admit", `{"event":"demo-briefing","ticket":"7","note":"phone battery dead"}`)
	if r.code != http.StatusOK || r.body["verdict"] != "admitted" || r.body["reason"] != "staff-override" {
		t.Fatalf("override: %d %s", r.code, r.raw)
	}
	override := r.body["nonce"].(string)
	cis, _ := f.store.CheckIns(1)
	if c := cis[0]; c.Nonce != override || c.Staff != testStaff || c.Note != "phone battery dead" || c.Ticket != "7" {
		t.Fatalf("override check-in %+v", c)
	}
	if v := f.present(t, Code, f.codes[6]); v.Reason != "already-used" {
		t.Fatalf("ticket 7 scanned after the override: %+v", v)
	}

	// Undo it: the ticket may enter again; a second undo is refused.
	if r := f.call(t, c, "POST", "/api/staff/undo", `{"nonce":"`+override+`"}`); r.code != http.StatusBadRequest {
		t.Fatalf("undo without a reason: %d", r.code)
	}
	r = f.call(t, c, "POST", "/api/staff/undo", `{"nonce":"`+override+`","note":"turnstile jammed"}`)
	if r.code != http.StatusOK || r.body["verdict"] != "rejected" || r.body["reason"] != "undo" {
		t.Fatalf("undo: %d %s", r.code, r.raw)
	}
	undo := r.body["nonce"].(string)
	if r := f.call(t, c, "POST", "/api/staff/undo", `{"nonce":"`+override+`","note":"again"}`); r.code != http.StatusConflict {
		t.Fatalf("second undo: %d", r.code)
	}
	if uses, _ := f.store.Admissions(DemoEvent, "7"); len(uses) != 0 {
		t.Fatalf("admissions after the undo: %+v", uses)
	}
	cnt, _ := f.store.Counts()
	if cnt.Admitted != 0 || cnt.Rejected != 1 {
		t.Errorf("counts after override, scan and undo: %+v", cnt)
	}
	if v := f.present(t, Code, f.codes[6]); v.Verdict != "admitted" || v.Reason != "ok" {
		t.Fatalf("ticket 7 after the undo: %+v", v)
	}

	// An admission older than the undo window stays.
	old := f.present(t, Code, f.codes[7])
	f.clock.Add(UndoWindow + time.Second)
	f.login(t, c) // the session ended meanwhile
	if r := f.call(t, c, "POST", "/api/staff/undo", `{"nonce":"`+old.Nonce+`","note":"late"}`); r.code != http.StatusConflict {
		t.Fatalf("undo after the window: %d %s", r.code, r.raw)
	}
	// A rejection is nothing to undo.
	rej := f.present(t, Code, "CRM-000123")
	if r := f.call(t, c, "POST", "/api/staff/undo", `{"nonce":"`+rej.Nonce+`","note":"x"}`); r.code != http.StatusConflict {
		t.Fatalf("undo of a rejection: %d", r.code)
	}

	// Fever holds: one refused, one confirmed.
	f.box.opts.Thermometer = sim.NewThermometer(38.1)
	held9, held10 := f.present(t, Code, f.codes[8]), f.present(t, Code, f.codes[9])
	f.box.opts.Thermometer = nil
	if held9.Verdict != "held" || held10.Verdict != "held" {
		t.Fatalf("not held: %+v %+v", held9, held10)
	}
	r = f.call(t, c, "GET", "/api/staff/recent", "")
	var recent struct{ Decisions, Holds []Decision }
	json.Unmarshal([]byte(r.raw), &recent)
	if len(recent.Holds) != 2 || !recent.Holds[0].CanResolve || recent.Holds[0].Nonce != held10.Nonce {
		t.Fatalf("holds: %s", r.raw)
	}
	if r := f.call(t, c, "POST", "/api/staff/hold", `{"nonce":"`+held9.Nonce+`","admit":false,"note":"still 38.0"}`); r.code != http.StatusOK || r.body["verdict"] != "rejected" || r.body["reason"] != "fever" {
		t.Fatalf("refuse hold: %d %s", r.code, r.raw)
	}
	if r := f.call(t, c, "POST", "/api/staff/hold", `{"nonce":"`+held9.Nonce+`","admit":true}`); r.code != http.StatusConflict {
		t.Fatalf("resolve a hold twice: %d", r.code)
	}
	if r := f.call(t, c, "POST", "/api/staff/hold", `{"nonce":"`+held10.Nonce+`","admit":true}`); r.code != http.StatusOK || r.body["verdict"] != "admitted" || r.body["name"] == "" {
		t.Fatalf("confirm hold: %d %s", r.code, r.raw)
	}
	if r := f.call(t, c, "POST", "/api/staff/hold", `{"nonce":"`+old.Nonce+`","admit":true}`); r.code != http.StatusConflict {
		t.Fatalf("resolve an admission as a hold: %d", r.code)
	}
	if v := f.present(t, Code, f.codes[9]); v.Reason != "already-used" {
		t.Errorf("ticket 10 after its hold was confirmed: %+v", v)
	}

	// The latest decisions tell staff what was undone and resolved.
	r = f.call(t, c, "GET", "/api/staff/recent", "")
	recent.Decisions, recent.Holds = nil, nil
	json.Unmarshal([]byte(r.raw), &recent)
	by := map[string]Decision{}
	for _, d := range recent.Decisions {
		by[d.Nonce] = d
	}
	if d := by[override]; d.ResolvedBy != undo || d.CanUndo {
		t.Errorf("the override in the list: %+v", d)
	}
	if d := by[undo]; d.Of != override || d.Note != "turnstile jammed" || d.Staff != testStaff {
		t.Errorf("the undo in the list: %+v", d)
	}
	if d := by[held9.Nonce]; d.ResolvedBy == "" || d.CanResolve {
		t.Errorf("the refused hold in the list: %+v", d)
	}
	if len(recent.Holds) != 0 {
		t.Errorf("holds left: %+v", recent.Holds)
	}

	// Every staff action is in the audit chain with who did it, and went
	// to sync, the signal and the screen.
	var acts []string
	for _, e := range f.audit(t) {
		if e.Actor == testStaff && e.Kind == "decision" {
			acts = append(acts, e.Verdict+"/"+e.Reason)
		}
	}
	if got := strings.Join(acts, " "); got != "admitted/staff-override rejected/undo rejected/fever admitted/staff-override" {
		t.Errorf("staff decisions in the audit log: %s", got)
	}
	if n, err := f.store.VerifyAudit(); err != nil {
		t.Errorf("audit chain (%d): %v", n, err)
	}
	f.mu.Lock()
	staffSent := 0
	for _, c := range f.sent {
		if c.Staff == testStaff {
			staffSent++
		}
	}
	f.mu.Unlock()
	if staffSent != 4 {
		t.Errorf("%d staff check-ins sent up, want 4", staffSent)
	}
	if got := strings.Join(f.signal.Shown(), " "); !strings.Contains(got, "admitted rejected admitted") {
		t.Errorf("signal showed %s", got)
	}
}

func TestStatus_kioskFields(t *testing.T) {
	f := newStaffFixture(t)
	synced := time.Date(2026, 5, 20, 9, 30, 0, 0, time.UTC)
	f.box.opts.LastSync = func() time.Time { return synced }
	r := f.call(t, f.client(t), "GET", "/api/status", "")
	if r.code != http.StatusOK || r.body["staff"] != true || r.body["last_sync"] != "2026-05-20T09:30:00Z" || r.body["manifest_at"] == nil {
		t.Fatalf("status: %s", r.raw)
	}
	at, err := time.Parse(time.RFC3339Nano, r.body["manifest_at"].(string))
	if err != nil || time.Since(at) > time.Minute {
		t.Errorf("manifest_at %v (%v)", at, err)
	}
}
