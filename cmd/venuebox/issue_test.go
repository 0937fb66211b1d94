package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/csv"
	"errors"
	"fmt"
	stdpng "image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"venuebox/cmd/internal/manifest"
	"venuebox/cmd/internal/ticket"
)

// runCmd runs venuebox with args and returns its exit status and output.
func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// oneLine fails unless s is exactly one line.
func oneLine(t *testing.T, what, s string) {
	t.Helper()
	if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
		t.Errorf("%s is not one line: %q", what, s)
	}
}

// newKey runs keygen into a temporary directory and returns the key paths
// and the public key.
func newKey(t *testing.T) (keyPath, pubPath string, pub ed25519.PublicKey) {
	t.Helper()
	dir := t.TempDir()
	if code, _, stderr := runCmd("keygen", "-out", dir); code != 0 {
		t.Fatalf("keygen: exit %d: %s", code, stderr)
	}
	keyPath, pubPath = filepath.Join(dir, ticket.PrivateKeyFile), filepath.Join(dir, ticket.PublicKeyFile)
	pub, err := ticket.LoadPublicKey(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	return keyPath, pubPath, pub
}

// row is one generated attendee: the fields as a spreadsheet holds them and
// as issue must write them back.
type row struct {
	name, phone, level, uid, class string // as written in the CSV
	wantPhone, wantUID             string // normalised
}

var (
	surnames = []string{"张", "王", "李", "赵", "刘", "陈", "杨", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林", "罗", "欧阳", "司马", "诸葛"}
	given    = []rune("三丰伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华慧建国平红玉兰春梅")
	levels   = []string{"", "普通", "金卡", "白金卡", "钻石"}
	classes  = []string{"", "VIP", "嘉宾", "standard"}
)

// genRows makes n attendees with Chinese names (and a few Latin ones),
// 138 phones in several spellings and a card for every third.
func genRows(n int, seed uint64) []row {
	rng := rand.New(rand.NewPCG(seed, 1))
	rows := make([]row, n)
	for i := range rows {
		r := &rows[i]
		r.name = surnames[rng.IntN(len(surnames))]
		for range 1 + rng.IntN(2) {
			r.name += string(given[rng.IntN(len(given))])
		}
		if i%50 == 7 {
			r.name = fmt.Sprintf("Alice Wong%d", i)
		}
		d := fmt.Sprintf("138%08d", rng.IntN(100_000_000))
		r.wantPhone = d
		switch i % 4 {
		case 0:
			r.phone = d
		case 1:
			r.phone = d[:3] + "-" + d[3:7] + "-" + d[7:]
		case 2:
			r.phone = d[:3] + " " + d[3:7] + " " + d[7:]
		case 3:
			r.phone, r.wantPhone = "+86 "+d, "+86"+d
		}
		r.level = levels[rng.IntN(len(levels))]
		r.class = classes[rng.IntN(len(classes))]
		if i%3 == 0 {
			u := fmt.Sprintf("04%04X%02X", i, rng.IntN(256))
			if i%2 == 0 {
				u += fmt.Sprintf("%06X", rng.IntN(1<<24)) // a 7-byte UID
			}
			r.wantUID = u
			r.uid = strings.ToLower(u[:2] + ":" + u[2:4] + ":" + u[4:])
		}
	}
	return rows
}

// attendeeCSV renders rows as Excel writes them: CRLF, columns in a
// different order than the contract lists them, header in mixed case.
func attendeeCSV(rows []row) string {
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.UseCRLF = true
	w.Write([]string{"Name", "Phone", "ticket_class", "Member_Level", "card_uid"})
	for _, r := range rows {
		w.Write([]string{r.name, r.phone, r.class, r.level, r.uid})
	}
	w.Flush()
	return b.String()
}

const testEvent = "ev-2026-sh-appreciation"

func TestIssue_thousandRows(t *testing.T) {
	keyPath, pubPath, pub := newKey(t)
	rows := genRows(1000, 1)
	text := attendeeCSV(rows)
	for _, tc := range []struct {
		name string
		data []byte
		args []string
		zone string
		from time.Time
		qr   int // image side
	}{
		{
			name: "utf8 bom, zone and window",
			data: append([]byte("\xEF\xBB\xBF"), text...),
			args: []string{"-zone", "VIP-hall", "-from", "2026-05-20T08:00:00+08:00", "-until", "2026-05-20T18:00:00+08:00", "-name", "客户答谢日", "-venue", "sh-pudong"},
			zone: "VIP-hall",
			from: time.Date(2026, 5, 20, 0, 0, 0, 0, time.UTC),
			qr:   defaultQRSize,
		},
		// Smaller images: half the encoding time under -race.
		{name: "gbk, no zone, no window", data: gbk(t, text), args: []string{"-qr-size", "120"}, qr: 120},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			in := filepath.Join(dir, "attendees.csv")
			if err := os.WriteFile(in, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out")
			start := time.Now()
			args := append([]string{"issue", "-key", keyPath, "-event", testEvent, "-in", in, "-out", out}, tc.args...)
			code, stdout, stderr := runCmd(args...)
			t.Logf("issue of %d rows took %v", len(rows), time.Since(start))
			if code != 0 {
				t.Fatalf("issue: exit %d: %s", code, stderr)
			}
			oneLine(t, "stdout", stdout)
			if !strings.Contains(stdout, "issued 1000 tickets") || !strings.Contains(stdout, out) {
				t.Errorf("summary %q does not give the count and the directory", stdout)
			}
			codes := checkTicketsCSV(t, out, rows)
			checkCodes(t, codes, pub, tc.zone, tc.from)
			checkManifest(t, out, rows, codes, pub, tc.zone)
			checkQR(t, out, codes, tc.qr)
			checkModes(t, out)
			for _, i := range []int{0, 499, 999} {
				if code, stdout, stderr := runCmd("verify", "-pub", pubPath, codes[i]); code != 0 || !strings.Contains(stdout, "ticket:    "+strconv.Itoa(i+1)+"\n") {
					t.Errorf("verify ticket %d: exit %d\n%s%s", i+1, code, stdout, stderr)
				}
			}
			if tc.zone != "" {
				checkTampering(t, codes, pub, pubPath)
			}
		})
	}
}

// checkTicketsCSV checks tickets.csv against the input rows and returns the
// codes in ticket order.
func checkTicketsCSV(t *testing.T, out string, rows []row) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(out, ticketsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, utf8BOM) {
		t.Error("tickets.csv has no UTF-8 byte order mark")
	}
	recs, err := csv.NewReader(bytes.NewReader(data[len(utf8BOM):])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(recs[0], ","); got != "ticket_id,code,name,phone,member_level,card_uid,ticket_class" {
		t.Errorf("tickets.csv header %q", got)
	}
	if len(recs) != len(rows)+1 {
		t.Fatalf("tickets.csv has %d rows, want %d", len(recs)-1, len(rows))
	}
	codes := make([]string, len(rows))
	for i, r := range rows {
		rec := recs[i+1]
		want := []string{strconv.Itoa(i + 1), rec[1], r.name, r.wantPhone, r.level, r.wantUID, r.class}
		if strings.Join(rec, "|") != strings.Join(want, "|") {
			t.Fatalf("tickets.csv row %d = %q, want %q", i+1, rec, want)
		}
		codes[i] = rec[1]
	}
	return codes
}

// checkCodes verifies every code with a keyring trusting only pub.
func checkCodes(t *testing.T, codes []string, pub ed25519.PublicKey, zone string, from time.Time) {
	t.Helper()
	ring := ticket.NewKeyring(pub)
	for i, code := range codes {
		p, err := ring.Verify(code)
		if err != nil {
			t.Fatalf("ticket %d: %v", i+1, err)
		}
		if p.Number != uint64(i+1) || !p.ForEvent(testEvent) {
			t.Fatalf("ticket %d: number %d, event ok %v", i+1, p.Number, p.ForEvent(testEvent))
		}
		if p.HasZone != (zone != "") || (zone != "" && p.Zone != ticket.ZoneTag(zone)) {
			t.Fatalf("ticket %d: zone %v %02x, want %q", i+1, p.HasZone, p.Zone, zone)
		}
		if !p.From.Equal(from) || (!from.IsZero() && !p.Until.Equal(from.Add(10*time.Hour))) {
			t.Fatalf("ticket %d: window %v .. %v", i+1, p.From, p.Until)
		}
	}
}

// checkManifest reads manifest.json back and checks that it describes every
// ticket and card without holding any of their clear data.
func checkManifest(t *testing.T, out string, rows []row, codes []string, pub ed25519.PublicKey, zone string) {
	t.Helper()
	path := filepath.Join(out, manifestFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Parse(data, ticket.NewKeyring(pub))
	if err != nil {
		t.Fatalf("manifest.Parse: %v", err)
	}
	if m.Kind != manifest.KindSnapshot || m.Version != 1 || m.Event.ID != testEvent || len(m.CardKey) != manifest.CardKeySize {
		t.Errorf("manifest header: kind %q version %d event %q card key %d bytes", m.Kind, m.Version, m.Event.ID, len(m.CardKey))
	}
	if len(m.Tickets) != len(rows) {
		t.Fatalf("manifest lists %d tickets, want %d", len(m.Tickets), len(rows))
	}
	cards := make(map[string]manifest.Card, len(m.Cards))
	for _, c := range m.Cards {
		cards[c.UIDHash] = c
	}
	nCards := 0
	for i, r := range rows {
		mt, code := m.Tickets[i], codes[i]
		if mt.ID != strconv.Itoa(i+1) || mt.CodeHash != ticket.CodeHash(code) || mt.Zone != zone || mt.Class != r.class || mt.MemberLevel != r.level {
			t.Fatalf("manifest ticket %d = %+v", i+1, mt)
		}
		if mt.NameMasked != ticket.MaskName(r.name) || mt.PhoneMasked != ticket.MaskPhone(r.wantPhone) {
			t.Fatalf("manifest ticket %d masked %q %q", i+1, mt.NameMasked, mt.PhoneMasked)
		}
		h, err := ticket.Open(code, mt.Holder)
		if err != nil || h != (ticket.Holder{Name: r.name, Phone: r.wantPhone}) {
			t.Fatalf("ticket %d holder %+v, %v", i+1, h, err)
		}
		for _, clear := range []string{r.name, r.wantPhone, strings.TrimPrefix(r.wantPhone, "+"), code} {
			if bytes.Contains(data, []byte(clear)) {
				t.Fatalf("manifest.json holds %q (ticket %d) in clear", clear, i+1)
			}
		}
		if r.wantUID == "" {
			continue
		}
		nCards++
		if bytes.Contains(data, []byte(r.wantUID)) || bytes.Contains(data, []byte(r.uid)) {
			t.Fatalf("manifest.json holds card uid %q in clear", r.uid)
		}
		c, ok := cards[ticket.CardHash(m.CardKey, r.uid)]
		if !ok || c.Ticket != mt.ID {
			t.Fatalf("ticket %d: card %q not found (%+v)", i+1, r.uid, c)
		}
		if h, err := ticket.Open(ticket.NormalizeUID(r.uid), c.Holder); err != nil || h.Name != r.name {
			t.Fatalf("ticket %d: card holder %+v, %v", i+1, h, err)
		}
	}
	if len(m.Cards) != nCards {
		t.Errorf("manifest lists %d cards, want %d", len(m.Cards), nCards)
	}
}

// checkQR decodes a few of the images back to their codes.
func checkQR(t *testing.T, out string, codes []string, side int) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(out, qrDir))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(codes) {
		t.Errorf("%d QR images, want %d", len(entries), len(codes))
	}
	for _, i := range []int{0, 1, len(codes) / 2, len(codes) - 1} {
		png, err := os.ReadFile(filepath.Join(out, qrDir, strconv.Itoa(i+1)+".png"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := ticket.DecodePNG(png)
		if err != nil || got != codes[i] {
			t.Errorf("qr/%d.png decodes to %q, %v; want %q", i+1, got, err, codes[i])
		}
		if cfg, err := stdpng.DecodeConfig(bytes.NewReader(png)); err != nil || cfg.Width != side || cfg.Height != side {
			t.Errorf("qr/%d.png is %dx%d (%v), want %dx%[5]d", i+1, cfg.Width, cfg.Height, err, side)
		}
	}
}

func checkModes(t *testing.T, out string) {
	t.Helper()
	for path, want := range map[string]os.FileMode{
		out:                                0o700 | os.ModeDir,
		filepath.Join(out, qrDir):          0o700 | os.ModeDir,
		filepath.Join(out, ticketsFile):    0o600,
		filepath.Join(out, qrDir, "1.png"): 0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
		}
	}
}

const base45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

// checkTampering changes each character of a few codes, and signs a code
// with a key the keyring does not hold: none of them may verify.
func checkTampering(t *testing.T, codes []string, pub ed25519.PublicKey, pubPath string) {
	t.Helper()
	ring := ticket.NewKeyring(pub)
	rng := rand.New(rand.NewPCG(2, 2))
	for n, i := range []int{0, 1, 127, 500, 999} {
		code := codes[i]
		for pos := range len(code) {
			c := base45[rng.IntN(len(base45))]
			for c == code[pos] {
				c = base45[rng.IntN(len(base45))]
			}
			bad := code[:pos] + string(c) + code[pos+1:]
			if _, err := ring.Verify(bad); err == nil {
				t.Fatalf("ticket %d with position %d changed to %q verifies", i+1, pos, c)
			}
			if n < 2 {
				if code, _, stderr := runCmd("verify", "-pub", pubPath, bad); code != 1 && code != 2 {
					t.Fatalf("verify of ticket %d with position %d changed: exit %d %s", i+1, pos, code, stderr)
				}
			}
		}
	}

	_, otherPriv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := ticket.Sign(otherPriv, ticket.Claims{Event: testEvent, Number: 1, Zone: "VIP-hall"})
	if err != nil {
		t.Fatal(err)
	}
	want := ticket.ErrUnknownKey
	if ticket.KeyIDOf(otherPriv.Public().(ed25519.PublicKey)) == ticket.KeyIDOf(pub) {
		want = ticket.ErrBadSignature // the two-byte key ids collide (1 in 65536)
	}
	if _, err := ring.Verify(forged); !errors.Is(err, want) {
		t.Errorf("code from an untrusted key: %v, want %v", err, want)
	}
	if code, _, _ := runCmd("verify", "-pub", pubPath, forged); code != 1 {
		t.Errorf("verify of a code from an untrusted key: exit %d, want 1", code)
	}
}

// TestIssue_badRowWritesNothing breaks one row of a 1000-row file in several
// ways: the run must fail with exit 2 and that line, and leave no trace.
func TestIssue_badRowWritesNothing(t *testing.T) {
	keyPath, _, _ := newKey(t)
	for _, tc := range []struct {
		name   string
		break_ func(r *row)
		enc    func(t testing.TB, s string) []byte
		want   string
	}{
		{"empty name", func(r *row) { r.name = "" }, nil, "line 57: empty name"},
		{"bad phone", func(r *row) { r.phone = "138-1234-567x" }, nil, "line 57: phone holds 'x'"},
		{"bad phone in gbk", func(r *row) { r.phone = "12" }, gbk, "line 57: phone has 2 digits"},
		{"bad card uid", func(r *row) { r.uid = "04:ZZ" }, nil, "line 57: card_uid is not hex"},
		{"duplicate card uid", func(r *row) { r.uid = "04:00:00:3f:00" }, nil, "line 57: card_uid already given on line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rows := genRows(1000, 3)
			rows[0].uid = "04:00:00:3F:00"
			tc.break_(&rows[55]) // line 57: the header is line 1
			text := attendeeCSV(rows)
			data := []byte(text)
			if tc.enc != nil {
				data = tc.enc(t, text)
			}
			in := filepath.Join(t.TempDir(), "attendees.csv")
			if err := os.WriteFile(in, data, 0o600); err != nil {
				t.Fatal(err)
			}
			parent := t.TempDir()
			out := filepath.Join(parent, "out")
			code, stdout, stderr := runCmd("issue", "-key", keyPath, "-event", testEvent, "-in", in, "-out", out)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", code, stderr)
			}
			oneLine(t, "stderr", stderr)
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q, want it to say %q", stderr, tc.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q", stdout)
			}
			if strings.Contains(stderr, rows[55].wantPhone[len(rows[55].wantPhone)-8:]) {
				t.Errorf("stderr %q quotes the phone", stderr)
			}
			if entries, err := os.ReadDir(parent); err != nil || len(entries) != 0 {
				t.Errorf("the run left %v (%v) behind", entries, err)
			}
		})
	}
}

func TestIssue_flagsAndOutDir(t *testing.T) {
	keyPath, _, _ := newKey(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "attendees.csv")
	if err := os.WriteFile(in, []byte(attendeeCSV(genRows(3, 4))), 0o600); err != nil {
		t.Fatal(err)
	}
	full := filepath.Join(dir, "full")
	if err := os.MkdirAll(filepath.Join(full, "old"), 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"issue", "-key", keyPath, "-event", testEvent, "-in", in}
	for _, tc := range []struct {
		name string
		args []string
		want string // in the stderr line
	}{
		{"no key", []string{"issue", "-event", "e", "-in", in, "-out", filepath.Join(dir, "o1")}, "-key is required"},
		{"no out", base, "-out is required"},
		{"unknown flag", append(base, "-out", filepath.Join(dir, "o1"), "-colour", "red"), "flag provided but not defined"},
		{"argument", append(base, "-out", filepath.Join(dir, "o1"), "extra"), `unexpected argument "extra"`},
		{"from alone", append(base, "-out", filepath.Join(dir, "o1"), "-from", "2026-05-20T08:00:00Z"), "give both or neither"},
		{"until alone", append(base, "-out", filepath.Join(dir, "o1"), "-until", "2026-05-20T08:00:00Z"), "give both or neither"},
		{"bad from", append(base, "-out", filepath.Join(dir, "o1"), "-from", "tomorrow", "-until", "2026-05-20T08:00:00Z"), "-from: parsing time"},
		{"window backwards", append(base, "-out", filepath.Join(dir, "o1"), "-from", "2026-05-20T08:00:00Z", "-until", "2026-05-20T07:00:00Z"), "-until must be after -from"},
		{"window before the epoch", append(base, "-out", filepath.Join(dir, "o1"), "-from", "2025-05-20T08:00:00Z", "-until", "2025-05-21T07:00:00Z"), "window starts before"},
		{"control in event", []string{"issue", "-key", keyPath, "-event", "e\x01", "-in", in, "-out", filepath.Join(dir, "o1")}, "event id has invalid characters"},
		{"missing input", []string{"issue", "-key", keyPath, "-event", "e", "-in", filepath.Join(dir, "nope.csv"), "-out", filepath.Join(dir, "o1")}, "nope.csv"},
		{"missing key", []string{"issue", "-key", filepath.Join(dir, "nokey"), "-event", "e", "-in", in, "-out", filepath.Join(dir, "o1")}, "load private key"},
		{"qr size", append(base, "-out", filepath.Join(dir, "o1"), "-qr-size", "0"), "-qr-size 0 out of range"},
		{"out not empty", append(base, "-out", full), "exists and is not an empty directory"},
		{"out is a file", append(base, "-out", file), "exists and is not an empty directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(tc.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", code, stderr)
			}
			oneLine(t, "stderr", stderr)
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q, want %q", stderr, tc.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q", stdout)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "o1")); err == nil {
		t.Error("a failed run created its -out")
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "keep me" {
		t.Errorf("-out file changed: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(full, "old")); err != nil {
		t.Errorf("-out dir changed: %v", err)
	}

	t.Run("help", func(t *testing.T) {
		code, stdout, stderr := runCmd("issue", "-h")
		if code != 0 || !strings.HasPrefix(stdout, "usage: venuebox issue") || stderr != "" {
			t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})
	t.Run("empty out dir is used", func(t *testing.T) {
		empty := filepath.Join(dir, "empty")
		if err := os.Mkdir(empty, 0o755); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := runCmd(append(base, "-out", empty+string(filepath.Separator))...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if _, err := os.Stat(filepath.Join(empty, manifestFile)); err != nil {
			t.Error(err)
		}
	})
	t.Run("parent created", func(t *testing.T) {
		out := filepath.Join(dir, "a", "b", "out")
		if code, _, stderr := runCmd(append(base, "-out", out)...); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if _, err := os.Stat(filepath.Join(out, ticketsFile)); err != nil {
			t.Error(err)
		}
	})
}
