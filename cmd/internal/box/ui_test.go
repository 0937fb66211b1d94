package box

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/manifest"
	"venuebox/cmd/internal/ticket"
	"venuebox/device/sim"
	"venuebox/store"
)

// The browser tests run the kiosk screen in headless Chromium (Debian's
// chromium package) against a real box: a Daemon with a simulated scanner
// and thermometer, its store in a temporary folder, no broker (so HQ is
// offline and check-ins queue). They skip only when no Chromium is
// installed.

// kioskHolder is a holder of the test event. The page must never show the
// full name or phone.
type kioskHolder struct{ name, phone, class, level string }

var kioskHolders = []kioskHolder{
	{"张三丰", "13812345678", "vip", "gold"},
	{"李小龙", "13987654321", "standard", ""},
	{"王大锤", "13600001111", "standard", "silver"},
	{"赵敏", "13755556666", "vip", "platinum"},
	{"John Smith", "+86 139 2222 3333", "standard", ""},
	{"陈小春", "13512345678", "standard", ""}, // the same last 4 digits as 张三丰
}

const (
	kioskEvent = "briefing-1205"
	kioskStaff = "duty-manager"
	kioskPIN   = "2468"
	kioskGate  = "gate-2"
)

// shanghai is the zone the browser is put in, so times read as at a
// venue in China.
var shanghai = time.FixedZone("CST", 8*3600)

type kioskBox struct {
	d      *Daemon
	url    string
	codes  []string // by holder
	thermo *sim.Thermometer
}

// startKioskBox runs a box daemon over the test event.
func startKioskBox(t testing.TB) *kioskBox {
	t.Helper()
	dir := t.TempDir()
	if _, err := ticket.GenerateKey(dir); err != nil {
		t.Fatal(err)
	}
	priv, err := ticket.LoadPrivateKey(filepath.Join(dir, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	cardKey := make([]byte, manifest.CardKeySize)
	rand.Read(cardKey)
	m := &manifest.Manifest{
		Format: manifest.Format, Kind: manifest.KindSnapshot, Version: 1, IssuedAt: time.Now().UTC(), CardKey: cardKey,
		Event: manifest.Event{ID: kioskEvent, Name: "财富管理客户答谢会", Venue: "sh-pudong",
			Classes: []manifest.Class{{Name: "standard"}, {Name: "vip", Benefit: "积分 +200"}}},
	}
	k := &kioskBox{}
	for i, h := range kioskHolders {
		code, err := ticket.Sign(priv, ticket.Claims{Event: kioskEvent, Number: uint64(i + 1)})
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := ticket.Seal(code, ticket.Holder{Name: h.name, Phone: h.phone})
		if err != nil {
			t.Fatal(err)
		}
		m.Tickets = append(m.Tickets, manifest.Ticket{ID: fmt.Sprint(i + 1), CodeHash: ticket.CodeHash(code), Class: h.class,
			MemberLevel: h.level, NameMasked: ticket.MaskName(h.name), PhoneMasked: ticket.MaskPhone(h.phone), Holder: sealed})
		k.codes = append(k.codes, code)
	}
	raw, err := manifest.Sign(priv, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Box{
		Box:      config.Identity{ID: kioskGate, Venue: "sh-pudong", Org: "acme-bank"},
		StateDir: filepath.Join(dir, "state"), Trust: []string{filepath.Join(dir, "signing.pub")},
		Manifest: filepath.Join(dir, "manifest.json"), HTTP: config.HTTP{Listen: "127.0.0.1:0"},
		Devices: config.Devices{Scanner: &config.Scanner{Driver: config.ScannerSim}, Thermo: &config.Thermo{Driver: config.ThermoSim}},
		Policy:  config.Policy{DoubleScanWindow: 50 * time.Millisecond, FeverC: 37.3, ClockSkew: 5 * time.Minute},
		Staff: config.Staff{PINs: map[string]string{kioskStaff: config.HashPIN(kioskPIN)},
			MaxAttempts: 3, Lockout: time.Minute, Session: 10 * time.Minute},
	}
	d, err := Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	})
	th, ok := d.Box.opts.Thermometer.(*sim.Thermometer)
	if !ok {
		t.Fatalf("thermometer is %T, want the simulated one", d.Box.opts.Thermometer)
	}
	k.d, k.url, k.thermo = d, "http://"+d.Addr.String()+"/", th
	return k
}

// scan posts a code to /api/scan.
func (k *kioskBox) scan(t testing.TB, code string) Verdict {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"code": code})
	resp, err := http.Post(k.url+"api/scan", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v Verdict
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scan: %d %v", resp.StatusCode, err)
	}
	return v
}

// chromium finds the browser, or skips the test.
func chromium(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("VENUEBOX_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("no Chromium found (install Debian's chromium, or set VENUEBOX_CHROMIUM): browser tests skipped")
	return ""
}

// screenshotDir is where the test run leaves its screenshots:
// $VENUEBOX_SCREENSHOTS, or venuebox-screenshots in the temporary folder.
func screenshotDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("VENUEBOX_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "venuebox-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// page is one browser tab on the kiosk screen.
type page struct {
	t     testing.TB
	ctx   context.Context
	shots string
}

func openPage(t testing.TB, url string) *page {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-features", "Translate"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	p := &page{t: t, ctx: ctx, shots: screenshotDir(t)}
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Shanghai"}); err != nil {
		t.Fatal(err)
	}
	p.do(chromedp.EmulateViewport(1280, 800), chromedp.Navigate(url))
	p.waitJS(`document.body.dataset.ready === '1' && document.getElementById('admitted').textContent !== ''`)
	return p
}

// on returns the page for use by test t.
func (p *page) on(t testing.TB) *page {
	c := *p
	c.t = t
	return &c
}

// dismissPanel taps a verdict away in staff mode, or waits for it to go.
func (p *page) dismissPanel() {
	p.t.Helper()
	if evalJS[bool](p, `!document.getElementById('panel').hidden && document.body.classList.contains('staff-mode')`) {
		p.click("#panel")
	}
	p.waitJS(`document.getElementById('panel').hidden`)
}

func (p *page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatal(err)
	}
}

func evalJS[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// waitJS waits until the expression is true.
func (p *page) waitJS(expr string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(10*time.Millisecond))); err != nil {
		p.t.Fatalf("waiting for %s: %v", expr, err)
	}
}

func (p *page) click(sel string) {
	p.t.Helper()
	p.do(chromedp.Click(chromedp.CSS(sel)))
}

func (p *page) text(sel string) string {
	p.t.Helper()
	return evalJS[string](p, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ''`, sel))
}

// panelView is what the verdict panel shows.
type panelView struct {
	Verdict string `json:"verdict"`
	Title   string `json:"title"`
	Reason  string `json:"reason"`
	Prior   string `json:"prior"`
	Name    string `json:"name"`
	Level   string `json:"level"`
	Facts   string `json:"facts"`
	ShownAt int64  `json:"shownAt"`
}

func (p *page) shown() int {
	return evalJS[int](p, `Number(document.getElementById('panel').dataset.shown) || 0`)
}

// waitPanel waits for the verdict after the after-th and returns it.
func (p *page) waitPanel(after int) panelView {
	p.t.Helper()
	p.waitJS(fmt.Sprintf(`(Number(document.getElementById('panel').dataset.shown) || 0) > %d`, after))
	return evalJS[panelView](p, `(() => {
		const q = (id) => { const e = document.getElementById(id); return e && !e.hidden ? e.textContent : ''; };
		const panel = document.getElementById('panel');
		return {verdict: panel.hidden ? '' : panel.dataset.verdict, title: q('panel-title'), reason: q('panel-reason'),
			prior: q('panel-prior'), name: q('panel-name'), level: q('panel-level'),
			facts: [...document.querySelectorAll('#panel-facts li')].map((li) => li.textContent).join(' | '),
			shownAt: Number(panel.dataset.shownAt)};
	})()`)
}

// overflowJS lists the visible elements whose content does not fit.
const overflowJS = `(() => {
	const bad = [];
	const sels = ['#top', '.where', '.event', '.tally', '.actions', '#bar', '.pill', '.devices', '#stage', '.ready',
		'#panel', '#panel .body', '.staff-head', '.tabs', '.staff-head .right', '.row', '.row .main', '.card', '.keypad', '.key', '.search'];
	for (const s of sels) for (const e of document.querySelectorAll(s)) {
		if (e.getClientRects().length === 0) continue;
		if (e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1) {
			bad.push(s + (e.id ? '#' + e.id : '') + ' "' + e.textContent.trim().slice(0, 40) + '" needs ' + e.scrollWidth + 'x' + e.scrollHeight + ', has ' + e.clientWidth + 'x' + e.clientHeight);
		}
	}
	const r = document.documentElement;
	if (r.scrollWidth > innerWidth || r.scrollHeight > innerHeight) bad.push('the page scrolls');
	return bad;
})()`

// screenshot saves the screen at 1280x800 and at 800x480 (the 7-inch
// display) as name-WxH.png, failing the test when anything overflows.
func (p *page) screenshot(name string) {
	p.t.Helper()
	for _, size := range [][2]int64{{1280, 800}, {800, 480}} {
		p.do(chromedp.EmulateViewport(size[0], size[1]), chromedp.Sleep(220*time.Millisecond))
		if bad := evalJS[[]string](p, overflowJS); len(bad) > 0 {
			p.t.Errorf("%s at %dx%d overflows:\n%s", name, size[0], size[1], strings.Join(bad, "\n"))
		}
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		cancel()
		if err != nil {
			p.t.Fatal(err)
		}
		file := filepath.Join(p.shots, fmt.Sprintf("%s-%dx%d.png", name, size[0], size[1]))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
	p.do(chromedp.EmulateViewport(1280, 800))
}

// assertMasked fails when the page's HTML holds any holder's full name or
// phone.
func (p *page) assertMasked(when string) {
	p.t.Helper()
	html := evalJS[string](p, `document.documentElement.outerHTML`)
	for _, h := range kioskHolders {
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, h.phone)
		for _, clear := range []string{h.name, h.phone, digits, strings.TrimPrefix(digits, "86")} {
			if strings.Contains(html, clear) {
				p.t.Errorf("%s: the page shows %q in clear", when, clear)
			}
		}
	}
}

// hhmm is how the screen shows a time of today.
func hhmm(t time.Time) string { return t.In(shanghai).Format("15:04") }

func TestKiosk(t *testing.T) {
	chromium(t)
	k := startKioskBox(t)
	p := openPage(t, k.url)
	t.Logf("screenshots in %s", p.shots)
	st := k.d.Store

	p.screenshot("ready")
	if got := p.text(".ready h1"); got != "请扫码入场" {
		t.Errorf("ready screen says %q", got)
	}

	t.Run("api scan, Chinese", func(t *testing.T) {
		p := p.on(t)
		n := p.shown()
		start := time.Now()
		v := k.scan(t, k.codes[0])
		got := p.waitPanel(n)
		t.Logf("POST /api/scan → panel on screen: %v", time.UnixMilli(got.ShownAt).Sub(start).Round(time.Millisecond))
		want := panelView{Verdict: "admitted", Title: "欢迎入场", Reason: "签到成功", Name: "张*丰", Level: "金卡会员",
			Facts: "票种贵宾票 | 权益积分 +200 | 体温36.5 °C", ShownAt: got.ShownAt}
		if v.Verdict != "admitted" || got != want {
			t.Errorf("panel %+v\nwant  %+v", got, want)
		}
		p.assertMasked("admitted")
		p.screenshot("admitted")
	})

	t.Run("scanner, Chinese", func(t *testing.T) {
		p := p.on(t)
		time.Sleep(60 * time.Millisecond) // past the double-scan window
		first, err := st.Admissions(kioskEvent, "1")
		if err != nil || len(first) != 1 {
			t.Fatalf("admissions %v %v", first, err)
		}
		n := p.shown()
		if err := k.d.Scanner.Feed(context.Background(), k.codes[0]); err != nil {
			t.Fatal(err)
		}
		got := p.waitPanel(n)
		if got.Verdict != "rejected" || got.Title != "无法入场" || got.Reason != "此票已使用" ||
			got.Prior != "已于 "+hhmm(first[0].At)+" 在 2 号门 入场" || got.Name != "张*丰" {
			t.Errorf("panel %+v", got)
		}
		p.assertMasked("rejected")
		p.screenshot("rejected")
	})

	t.Run("held for fever", func(t *testing.T) {
		p := p.on(t)
		k.thermo.Set(38.2)
		defer k.thermo.Set(36.5)
		n := p.shown()
		if err := k.d.Scanner.Feed(context.Background(), k.codes[1]); err != nil {
			t.Fatal(err)
		}
		got := p.waitPanel(n)
		if got.Verdict != "held" || got.Title != "请稍候" || got.Reason != "体温偏高，工作人员将为您复测" ||
			got.Name != "李*龙" || !strings.Contains(got.Facts, "体温38.2 °C") {
			t.Errorf("panel %+v", got)
		}
		p.assertMasked("held")
		p.screenshot("held")
	})

	t.Run("status bar: offline, queue rising", func(t *testing.T) {
		p := p.on(t)
		q, err := st.Queued()
		if err != nil {
			t.Fatal(err)
		}
		p.waitJS(fmt.Sprintf(`document.getElementById('queue').textContent === '待上传 %d'`, q))
		if got, cls := p.text("#hq"), evalJS[string](p, `document.getElementById('hq').className`); got != "总部离线" || !strings.Contains(cls, "bad") {
			t.Errorf("HQ pill %q (%s)", got, cls)
		}
		if got := p.text("#list"); got != "名单更新于 刚刚" {
			t.Errorf("manifest pill %q", got)
		}
		if got := p.text("#sync"); got != "尚未同步" {
			t.Errorf("sync pill %q", got)
		}
		if got := p.text(`[data-device="scanner"]`); got != "扫码器" {
			t.Errorf("scanner state %q", got)
		}
		k.scan(t, "CRM-000123")
		p.waitJS(fmt.Sprintf(`document.getElementById('queue').textContent === '待上传 %d'`, q+1))
		if cls := evalJS[string](p, `document.getElementById('queue').className`); !strings.Contains(cls, "warn") {
			t.Errorf("a queue while HQ is offline is not marked: %q", cls)
		}
	})

	t.Run("English", func(t *testing.T) {
		p := p.on(t)
		p.click("#lang")
		p.waitJS(`document.querySelector('.ready h1').textContent === 'Scan your ticket'`)
		n := p.shown()
		k.scan(t, k.codes[2])
		got := p.waitPanel(n)
		if got.Verdict != "admitted" || got.Title != "Welcome" || got.Reason != "You are checked in" ||
			got.Name != "王*锤" || got.Level != "Silver member" || got.Facts != "TicketStandard | Temperature36.5 °C" {
			t.Errorf("api scan panel %+v", got)
		}
		p.screenshot("admitted-en")
		time.Sleep(60 * time.Millisecond)
		first, _ := st.Admissions(kioskEvent, "3")
		n = p.shown()
		k.d.Scanner.Feed(context.Background(), k.codes[2])
		got = p.waitPanel(n)
		if len(first) != 1 || got.Verdict != "rejected" || got.Title != "Not admitted" || got.Reason != "This ticket has already been used" ||
			got.Prior != "Already entered at "+hhmm(first[0].At)+" at Gate 2" {
			t.Errorf("scanner panel %+v", got)
		}
		n = p.shown()
		k.d.Scanner.Feed(context.Background(), "CRM-000123")
		got = p.waitPanel(n)
		if got.Verdict != "rejected" || got.Reason != "Ticket not found. Please go to the help desk" || got.Name != "" {
			t.Errorf("unknown code panel %+v", got)
		}
		if hq, q := p.text("#hq"), p.text("#queue"); hq != "HQ offline" || !strings.HasSuffix(q, " queued") {
			t.Errorf("status bar in English: %q, %q", hq, q)
		}
		p.screenshot("rejected-en")
		p.assertMasked("English")
		p.click("#lang")
		p.waitJS(`document.querySelector('.ready h1').textContent === '请扫码入场'`)
	})

	var overrideNonce string
	t.Run("staff: wrong PIN, login, lookup, override", func(t *testing.T) {
		p := p.on(t)
		p.click("#staff-btn")
		p.waitJS(`!document.getElementById('login').hidden`)
		p.screenshot("login")
		pin := func(digits string) {
			for _, d := range digits {
				p.click(fmt.Sprintf(`#pin-pad [data-key="%c"]`, d))
			}
			p.click(`#pin-pad [data-key="ok"]`)
		}
		pin("9999")
		p.waitJS(`document.getElementById('login-error').textContent !== ''`)
		if got := p.text("#login-error"); got != "PIN 错误，还可尝试 2 次" {
			t.Errorf("wrong PIN says %q", got)
		}
		if !evalJS[bool](p, `document.getElementById('staff').hidden`) {
			t.Fatal("a wrong PIN opened staff mode")
		}
		pin(kioskPIN)
		p.waitJS(`!document.getElementById('staff').hidden`)
		p.dismissPanel()
		if got := p.text("#staff-id"); got != kioskStaff {
			t.Errorf("staff id %q", got)
		}
		for _, d := range "5678" {
			p.click(fmt.Sprintf(`#lookup-pad [data-key="%c"]`, d))
		}
		p.click(`#lookup-pad [data-key="ok"]`)
		p.waitJS(`document.querySelectorAll('#lookup-results .row').length === 2`)
		rows := p.text("#lookup-results")
		for _, want := range []string{"张*丰", "138****5678", "已入场", "陈*春", "135****5678", "未入场"} {
			if !strings.Contains(rows, want) {
				t.Errorf("lookup by 5678 lacks %q: %s", want, rows)
			}
		}
		p.assertMasked("lookup by phone")
		p.screenshot("staff")
		// The language switch is under the staff screen: press it from script.
		p.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('lang').click()`))
		p.waitJS(`document.querySelector('[data-tab="lookup"]').textContent === 'Look up'`)
		p.screenshot("staff-en")
		p.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('lang').click()`))
		p.waitJS(`document.querySelector('[data-tab="lookup"]').textContent === '查找'`)

		p.do(chromedp.SetValue(chromedp.CSS("#q"), "赵敏"))
		p.click(`#lookup-form button[type="submit"]`)
		p.waitJS(`document.querySelectorAll('#lookup-results .row').length === 1 && document.querySelector('#lookup-results .row').dataset.ticket === '4'`)
		p.assertMasked("lookup by name")
		p.click(`#lookup-results .row[data-ticket="4"] .action`)
		p.waitJS(`!document.getElementById('dialog').hidden`)
		p.click(`#dialog-ok`) // no reason yet: refused
		if got := p.text("#dialog-error"); got != "请填写原因" {
			t.Errorf("override without a reason: %q", got)
		}
		p.screenshot("staff-override")
		p.click(`#dialog-presets .chip`)
		n := p.shown()
		p.click(`#dialog-ok`)
		got := p.waitPanel(n)
		if got.Verdict != "admitted" || got.Reason != "工作人员已为您办理入场" || got.Name != "赵*" || got.Level != "白金会员" {
			t.Errorf("override panel %+v", got)
		}
		entries, err := st.AuditLog(0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		var decision, note *store.Entry
		for i, e := range entries {
			switch {
			case e.Kind == "decision" && e.Reason == "staff-override" && e.Actor == kioskStaff:
				decision = &entries[i]
			case e.Kind == "staff" && e.Actor == kioskStaff && strings.HasPrefix(e.Detail, "admit by hand "+kioskEvent+"/4: 二维码无法识别"):
				note = &entries[i]
			}
		}
		if decision == nil || note == nil || note.Subject != decision.Subject {
			t.Fatalf("override in the audit chain: decision %+v, note %+v", decision, note)
		}
		overrideNonce = decision.Subject
		p.dismissPanel() // staff tap the verdict away
	})

	t.Run("staff: confirm a fever hold, undo the override", func(t *testing.T) {
		p := p.on(t)
		if overrideNonce == "" {
			t.Skip("no override")
		}
		p.click(`[data-tab="holds"]`)
		p.waitJS(`document.querySelectorAll('#holds .row').length === 1`)
		if got := p.text("#holds-count"); got != "1" {
			t.Errorf("holds badge %q", got)
		}
		p.click(`#holds .row .action.go`)
		p.waitJS(`!document.getElementById('dialog').hidden`)
		p.click(`#dialog-presets .chip`)
		n := p.shown()
		p.click(`#dialog-ok`)
		if got := p.waitPanel(n); got.Verdict != "admitted" || got.Name != "李*龙" {
			t.Errorf("confirmed hold panel %+v", got)
		}
		p.dismissPanel()
		p.click(`[data-tab="recent"]`)
		row := fmt.Sprintf(`#recent .row[data-nonce="%s"]`, overrideNonce)
		p.waitJS(fmt.Sprintf(`!!document.querySelector('%s .action')`, row))
		p.screenshot("staff-recent")
		p.assertMasked("recent")
		p.click(row + " .action")
		p.waitJS(`!document.getElementById('dialog').hidden`)
		p.click(`#dialog-presets .chip`)
		p.click(`#dialog-ok`)
		p.waitJS(fmt.Sprintf(`!!document.querySelector('%s') && !document.querySelector('%s .action')`, row, row))
		entries, err := st.AuditLog(0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		undone := false
		for _, e := range entries {
			if e.Kind == "decision" && e.Reason == store.ReasonUndo && e.Actor == kioskStaff &&
				e.Detail == "undo "+overrideNonce+": 闸机故障，未通过" {
				undone = true
			}
		}
		if !undone {
			t.Errorf("no undo of %s in the audit chain", overrideNonce)
		}
		if uses, _ := st.Admissions(kioskEvent, "4"); len(uses) != 0 {
			t.Errorf("the undone admission stays: %+v", uses)
		}
		if n, err := st.VerifyAudit(); err != nil {
			t.Errorf("audit chain of %d: %v", n, err)
		}
		// The ticket enters again.
		if v := k.scan(t, k.codes[3]); v.Verdict != "admitted" || v.Reason != "ok" {
			t.Errorf("after the undo: %+v", v)
		}
		p.assertMasked("staff mode")
	})

	t.Run("staff: wrong PINs lock the login", func(t *testing.T) {
		p := p.on(t)
		p.dismissPanel()
		p.click("#logout")
		p.waitJS(`document.getElementById('staff').hidden`)
		p.click("#staff-btn")
		p.waitJS(`!document.getElementById('login').hidden`)
		for i, want := range []string{"PIN 错误，还可尝试 2 次", "PIN 错误，还可尝试 1 次", "错误次数过多，已锁定，请 1 分钟后再试"} {
			p.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('login-error').textContent = ''`))
			for range 4 {
				p.click(`#pin-pad [data-key="1"]`)
			}
			p.click(`#pin-pad [data-key="ok"]`)
			p.waitJS(`document.getElementById('login-error').textContent !== ''`)
			if got := p.text("#login-error"); got != want {
				t.Errorf("wrong PIN %d: %q, want %q", i+1, got, want)
			}
		}
		// The box refuses the right PIN while locked, whatever the page does.
		body := strings.NewReader(`{"pin":"` + kioskPIN + `"}`)
		resp, err := http.Post(k.url+"api/staff/login", "application/json", body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusLocked {
			t.Errorf("right PIN while locked: %d", resp.StatusCode)
		}
		p.do(chromedp.Navigate(k.url))
		p.waitJS(`document.body.dataset.ready === '1'`)
		p.click("#staff-btn")
		for _, d := range kioskPIN {
			p.click(fmt.Sprintf(`#pin-pad [data-key="%c"]`, d))
		}
		p.click(`#pin-pad [data-key="ok"]`)
		p.waitJS(`document.getElementById('login-error').textContent !== ''`)
		if got := p.text("#login-error"); !strings.HasPrefix(got, "错误次数过多") || !evalJS[bool](p, `document.getElementById('staff').hidden`) {
			t.Errorf("right PIN while locked: %q", got)
		}
		entries, _ := st.AuditLog(0, 10000)
		refused, locked := 0, 0
		for _, e := range entries {
			if e.Kind == "staff" && strings.HasPrefix(e.Detail, "login refused") {
				refused++
			}
			if e.Kind == "staff" && strings.HasPrefix(e.Detail, "login locked") {
				locked++
			}
		}
		if refused != 4 || locked != 1 {
			t.Errorf("audit: %d refused logins, %d locks; want 4 and 1", refused, locked)
		}
		p.assertMasked("end")
	})
}
