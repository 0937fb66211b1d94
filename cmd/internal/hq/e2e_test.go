package hq

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"golang.org/x/text/encoding/simplifiedchinese"

	"venuebox/cmd/internal/box"
	"venuebox/cmd/internal/issuing"
)

var (
	surnames = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
	given    = []rune("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建文斌宇浩凯健俊帆帅旭宁")
	levels   = []string{"", "", "", "silver", "gold", "platinum"}
)

// attendeesCSV writes n attendee rows from row first, with a header.
func attendeesCSV(first, n int) string {
	var b strings.Builder
	b.WriteString("name,phone,member_level,card_uid,ticket_class\r\n")
	for i := first; i < first+n; i++ {
		name := string(surnames[i%len(surnames)]) + string(given[(i*7)%len(given)]) + string(given[(i*13+5)%len(given)])
		class := "standard"
		if i%10 == 0 {
			class = "vip"
		}
		fmt.Fprintf(&b, "%s,139%08d,%s,,%s\r\n", name, 10000000+i*37, levels[i%len(levels)], class)
	}
	return b.String()
}

// TestEndToEnd_eventDayAtTwoGates is the event day: Mosquitto, HQ
// and two boxes; an event created over the API, 300 attendees with Chinese
// names imported from two files (one GBK, one UTF-8 with BOM, each with bad
// rows reported), the manifest pushed, 250 codes scanned across both gates
// (some twice, some forged, one ticket revoked during the run), and HQ's
// attendance, CSV export, conflicts and dashboard numbers compared with what
// the boxes decided. Then the dashboard and the import flow in headless
// Chromium, with screenshots.
func TestEndToEnd_eventDayAtTwoGates(t *testing.T) {
	d := newDesk(t)
	gates := []*box.Daemon{d.startBox("gate-1"), d.startBox("gate-2")}
	ev := strings.Replace(briefing, `"start":"2026-01-02T08:00:00+08:00"`, `"start":"2026-01-02T08:00:00+08:00"`, 1)
	if code := d.do("POST", "/api/events", testToken, "application/json", []byte(ev), nil); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(attendeesCSV(0, 150) + "坏行,12,,,\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	utf := append(append([]byte(nil), issuing.BOM...), attendeesCSV(150, 150)+",13900000000,,,\r\n"...)
	for _, f := range []struct {
		data []byte
		enc  string
	}{{gbk, "gbk"}, {utf, "utf-8-bom"}} {
		var rep ImportReport
		if code := d.do("POST", "/api/events/briefing-1205/attendees", testToken, "text/csv", f.data, &rep); code != http.StatusOK {
			t.Fatalf("import: %d", code)
		}
		if rep.Accepted != 150 || len(rep.Rejected) != 1 || rep.Encoding != f.enc || rep.Rejected[0].Line != 152 {
			t.Fatalf("import %s: %+v", f.enc, rep)
		}
	}
	var clear []AttendeeView
	d.do("GET", "/api/events/briefing-1205/attendees?clear=1", testToken, "", nil, &clear)
	if len(clear) != 300 {
		t.Fatalf("%d attendees", len(clear))
	}
	for _, g := range gates {
		eventually(t, "both gates hold the manifest", 15*time.Second, func() bool {
			s, _ := g.Box.Status()
			return s.Manifests["briefing-1205"] >= 2
		})
	}

	// 250 scans: codes of 200 tickets once each at a random gate, 25 of
	// them again (at either gate), 20 forged codes, and ticket 7 revoked
	// after its holder was let in once (its later scan is refused).
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(20261205, 1))
	type scan struct {
		gate int
		code string
	}
	var plan []scan
	for i := range 200 {
		plan = append(plan, scan{rng.IntN(2), clear[i].Code})
	}
	for range 25 {
		plan = append(plan, scan{rng.IntN(2), clear[rng.IntN(200)].Code})
	}
	for i := range 20 {
		c := []byte(clear[i].Code)
		c[len(c)-3] = "ABCDEFGH"[i%8] // an altered signature
		if string(c) == clear[i].Code {
			c[len(c)-3] = 'Z'
		}
		plan = append(plan, scan{rng.IntN(2), string(c)})
	}
	rng.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })
	// Ticket 7 once early, revoked half way, then scanned again.
	plan = append([]scan{{0, clear[6].Code}}, plan...)
	plan = append(plan[:120], append([]scan{{-1, ""}}, plan[120:]...)...)
	plan = append(plan, scan{1, clear[6].Code}, scan{0, clear[6].Code}, scan{1, clear[200].Code}, scan{0, clear[201].Code})
	type decided struct{ verdict, reason string }
	var got []decided
	admitted := map[string]bool{}
	reasons := map[string]int{}
	for _, s := range plan {
		if s.gate < 0 {
			if code := d.do("POST", "/api/events/briefing-1205/attendees/7/revoke", testToken, "", nil, nil); code != http.StatusOK {
				t.Fatalf("revoke: %d", code)
			}
			for _, g := range gates {
				eventually(t, "the gates hold the revocation", 10*time.Second, func() bool {
					r, _ := g.Store.Revoked("briefing-1205", "7")
					return r
				})
			}
			continue
		}
		time.Sleep(60 * time.Millisecond) // past the double-scan window, and the peer's batch
		v, err := gates[s.gate].Box.Present(ctx, box.Code, s.code)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, decided{v.Verdict, v.Reason})
		switch v.Verdict {
		case "admitted":
			admitted[v.Ticket] = true
		case "rejected":
			reasons[v.Reason]++
		}
	}
	if len(got) != 250 {
		t.Fatalf("%d scans, want 250", len(got))
	}
	t.Logf("the gates decided: %d tickets admitted, rejections %v", len(admitted), reasons)
	if reasons["revoked"] < 2 || reasons["bad-signature"] != 20 || reasons["already-used"] < 20 {
		t.Fatalf("rejections %v", reasons)
	}

	// HQ ends with what the gates decided.
	var sum Summary
	eventually(t, "HQ holds every decision", 20*time.Second, func() bool {
		d.do("GET", "/api/events/briefing-1205/summary", "", "", nil, &sum)
		return sum.CheckIns == 250-20 // forged codes name no event of HQ's
	})
	if sum.Admitted != len(admitted) || sum.Expected != 299 || sum.NoShows != 299-len(admitted)+1 {
		t.Fatalf("summary: admitted %d (gates %d), expected %d, no-shows %d", sum.Admitted, len(admitted), sum.Expected, sum.NoShows)
	}
	for r, n := range reasons {
		if r == "bad-signature" {
			continue
		}
		if sum.Reasons[r] != n {
			t.Errorf("HQ counts %d %s, the gates %d", sum.Reasons[r], r, n)
		}
	}
	var att []Attendance
	d.do("GET", "/api/events/briefing-1205/attendance", "", "", nil, &att)
	rows, err := csv.NewReader(bytes.NewReader(d.get("/api/events/briefing-1205/attendance?format=csv"))).ReadAll()
	if err != nil || len(att) != 230 || len(rows) != 231 {
		t.Fatalf("attendance: %d JSON, %d CSV rows, %v", len(att), len(rows), err)
	}
	var cf []any
	d.do("GET", "/api/events/briefing-1205/conflicts", "", "", nil, &cf)
	if len(cf) != sum.Conflicts || sum.Conflicts != 0 {
		t.Fatalf("conflicts: %d listed, %d in the summary (gates in step: none expected)", len(cf), sum.Conflicts)
	}
	perGate := 0
	for _, g := range sum.Gates {
		perGate += g.Admitted + g.Rejected + g.Held
	}
	if perGate != 230 {
		t.Fatalf("per gate %+v", sum.Gates)
	}
	for _, g := range gates {
		st, _ := g.Store.AuditLog(0, 1<<20)
		eventually(t, "HQ verified both gates' audit chains", 20*time.Second, func() bool {
			a := auditOf(d, g)
			return a != nil && a.OK && a.Seq >= st[len(st)-1].Seq
		})
	}
	browse(t, d, clear)
}

func auditOf(d *desk, g *box.Daemon) *AuditStatus {
	var bs []BoxStatus
	d.do("GET", "/api/boxes", "", "", nil, &bs)
	s, _ := g.Box.Status()
	for _, b := range bs {
		if b.Box == s.Box {
			return b.Audit
		}
	}
	return nil
}

// chromiumPath finds the browser, or skips.
func chromiumPath(t *testing.T) string {
	for _, p := range []string{os.Getenv("VENUEBOX_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("no Chromium found (install Debian's chromium, or set VENUEBOX_CHROMIUM): browser checks skipped")
	return ""
}

func shotDir(t *testing.T) string {
	dir := os.Getenv("VENUEBOX_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "venuebox-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browse drives the dashboard in headless Chromium: the overview, the
// fleet, sign-in, the import flow (a preview with refused rows, then the
// import) and the attendee list in clear, each checked and screenshot.
func browse(t *testing.T, d *desk, clear []AttendeeView) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("hide-scrollbars", true), chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	dir := shotDir(t)
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	js := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	wait := func(expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
			t.Fatalf("waiting for %s: %v", expr, err)
		}
	}
	text := func(sel string) string {
		return js(fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ''`, sel))
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s", filepath.Join(dir, name))
	}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Shanghai"}); err != nil {
		t.Fatal(err)
	}
	do(chromedp.EmulateViewport(1440, 900), chromedp.Navigate(d.api+"/?event=briefing-1205"))
	wait(`document.body.dataset.ready === '1'`)
	do(chromedp.Sleep(300 * time.Millisecond))
	if a, e := text("#k-admitted"), text("#k-expected"); a == "0" || e != "299" {
		t.Errorf("the dashboard shows %s of %s admitted", a, e)
	}
	shot("hq-dashboard-zh.png")
	do(chromedp.Click(chromedp.CSS("#lang")), chromedp.Sleep(200*time.Millisecond))
	shot("hq-dashboard-en.png")
	do(chromedp.Click(chromedp.CSS(`#tabs button[data-tab="fleet"]`)), chromedp.Sleep(200*time.Millisecond))
	if f := text("#fleet tbody"); !strings.Contains(f, "gate-1") || !strings.Contains(f, "gate-2") || !strings.Contains(f, "intact") {
		t.Errorf("fleet: %q", f)
	}
	shot("hq-fleet-en.png")
	do(chromedp.Click(chromedp.CSS("#lang")), chromedp.Click(chromedp.CSS(`#tabs button[data-tab="attendees"]`)),
		chromedp.Click(chromedp.CSS("#signin")))
	wait(`!document.getElementById('login').hidden`)
	js(fmt.Sprintf(`document.getElementById('l-token').value = %q, ''`, testToken))
	shot("hq-signin-zh.png")
	js(`document.querySelector('#login-form button[type=submit]').click(), ''`)
	wait(`document.getElementById('login').hidden`)
	if s := text("#signin"); !strings.Contains(s, "总部令牌") {
		t.Errorf("signed in as %q", s)
	}
	late := attendeesCSV(400, 12) + "黄小明,13800001234,gold,,premium\r\n,13911112222,,,\r\n"
	js(fmt.Sprintf(`(() => { const dt = new DataTransfer(); dt.items.add(new File([%q], 'late-registrations.csv', {type: 'text/csv'}));
		const f = document.getElementById('file'); f.files = dt.files; f.dispatchEvent(new Event('change')); return ''; })()`, late))
	do(chromedp.Click(chromedp.CSS("#preview")))
	wait(`!document.getElementById('report').hidden`)
	if r := text("#report"); !strings.Contains(r, "12") || !strings.Contains(r, "premium") || !strings.Contains(r, "empty name") {
		t.Errorf("import preview: %q", r)
	}
	shot("hq-import-preview-zh.png")
	do(chromedp.Click(chromedp.CSS("#do-import")))
	wait(`document.getElementById('r-manifest').hidden === false`)
	do(chromedp.Click(chromedp.CSS("#clear-toggle")), chromedp.Sleep(600*time.Millisecond))
	if rows := text("#attendees tbody"); !strings.Contains(rows, clear[0].Name) {
		t.Errorf("clear rows: %q", rows[:min(300, len(rows))])
	}
	shot("hq-attendees-clear-zh.png")
}
