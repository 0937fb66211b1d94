package box

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/gate"
	"venuebox/cmd/internal/manifest"
	"venuebox/cmd/internal/ticket"
	"venuebox/device"
	"venuebox/device/sim"
	"venuebox/store"
)

var testID = store.Identity{Org: "acme-bank", Venue: "sh-pudong", Box: "gate-1"}

// fixture is a box over a real store with the demo event applied.
type fixture struct {
	box   *Box
	store *store.Store
	priv  ed25519.PrivateKey
	codes []string
	path  string
}

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	dir := t.TempDir()
	if _, err := ticket.GenerateKey(dir); err != nil {
		t.Fatal(err)
	}
	priv, err := ticket.LoadPrivateKey(filepath.Join(dir, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func newFixture(t testing.TB, policy gate.Policy) *fixture {
	t.Helper()
	f := &fixture{priv: newKey(t), path: filepath.Join(t.TempDir(), "box.db")}
	var raw []byte
	var err error
	if f.codes, raw, err = DemoManifest(f.priv, 20); err != nil {
		t.Fatal(err)
	}
	f.open(t, policy)
	if err := f.box.ApplyManifest(raw); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) open(t testing.TB, policy gate.Policy) {
	t.Helper()
	st, err := store.Open(f.path, testID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.store = st
	f.box, err = New(Options{Store: st, Trust: ticket.NewKeyring(f.priv.Public().(ed25519.PublicKey)), Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
}

func defaultPolicy() gate.Policy {
	return gate.Policy{DoubleScanWindow: 3 * time.Second, FeverC: 37.3, ClockSkew: 5 * time.Minute}
}

func (f *fixture) present(t testing.TB, kind Kind, input string) Verdict {
	t.Helper()
	v, err := f.box.Present(context.Background(), kind, input)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPresent_signedCode(t *testing.T) {
	f := newFixture(t, defaultPolicy())
	v := f.present(t, Code, f.codes[9])
	if v.Verdict != "admitted" || v.Reason != "ok" || v.Ticket != "10" || v.Event != DemoEvent {
		t.Fatalf("first scan: %+v", v)
	}
	if v.Class != "vip" || v.MemberLevel != "gold" || v.Benefit != "200 points" || !strings.Contains(v.Name, "*") || !strings.Contains(v.Phone, "****") {
		t.Fatalf("holder details: %+v", v)
	}
	// The same person scanning again at once: the same verdict, nothing new.
	again := f.present(t, Code, f.codes[9])
	if again.Verdict != "admitted" || !again.Repeat {
		t.Fatalf("double scan: %+v", again)
	}
	if q, _ := f.store.Queued(); q != 1 {
		t.Fatalf("queued %d after a double scan, want 1", q)
	}
}

func TestPresent_secondEntryAfterTheWindow(t *testing.T) {
	p := defaultPolicy()
	p.DoubleScanWindow = time.Nanosecond
	f := newFixture(t, p)
	first := f.present(t, Code, f.codes[0])
	v := f.present(t, Code, f.codes[0])
	if v.Verdict != "rejected" || v.Reason != "already-used" || v.PriorGate != "gate-1" || v.PriorAt == nil || !v.PriorAt.Equal(first.At) {
		t.Fatalf("second entry: %+v", v)
	}
}

func TestPresent_forgedOrAlteredNeverAdmitted(t *testing.T) {
	f := newFixture(t, defaultPolicy())
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
	code := f.codes[3]
	seen := map[string]int{}
	for i := range len(code) {
		for _, c := range []byte{alphabet[(strings.IndexByte(alphabet, code[i])+1)%len(alphabet)], 'A', '0'} {
			if c == code[i] {
				continue
			}
			altered := code[:i] + string(c) + code[i+1:]
			v := f.present(t, Code, altered)
			if v.Verdict == "admitted" {
				t.Fatalf("altered code admitted (position %d): %+v", i, v)
			}
			seen[v.Reason]++
		}
	}
	t.Logf("altered codes rejected as %v", seen)
	// Signed by a key the box does not trust.
	other, err := ticket.Sign(newKey(t), ticket.Claims{Event: DemoEvent, Number: 4})
	if err != nil {
		t.Fatal(err)
	}
	if v := f.present(t, Code, other); v.Verdict != "rejected" || (v.Reason != "unknown-key" && v.Reason != "bad-signature") {
		t.Fatalf("untrusted key: %+v", v)
	}
	// Signed by the trusted key for an event this box does not serve.
	wrong, err := ticket.Sign(f.priv, ticket.Claims{Event: "another-event", Number: 4})
	if err != nil {
		t.Fatal(err)
	}
	if v := f.present(t, Code, wrong); v.Reason != "wrong-event" {
		t.Fatalf("wrong event: %+v", v)
	}
	// The original still admits: the rejections recorded nothing against it.
	if v := f.present(t, Code, code); v.Verdict != "admitted" {
		t.Fatalf("original: %+v", v)
	}
}

func TestPresent_unreadableAndUnknown(t *testing.T) {
	f := newFixture(t, defaultPolicy())
	for input, want := range map[string]string{
		"":                         "unreadable",
		"bell\a":                   "unreadable",
		"\xff\xfe":                 "unreadable",
		strings.Repeat("A", 10000): "unreadable",
		"VB1%%%%":                  "unreadable",
		"CRM-000123":               "unknown",
	} {
		if v := f.present(t, Code, input); v.Verdict != "rejected" || v.Reason != want {
			t.Errorf("%.12q: %s %s, want rejected %s", input, v.Verdict, v.Reason, want)
		}
	}
	if v, err := f.box.Unreadable("\x00\x01"); err != nil || v.Reason != "unreadable" {
		t.Fatalf("device unreadable: %+v %v", v, err)
	}
}

// holderManifest is a snapshot with one known holder behind an unsigned
// CRM code and a member card, and one signed ticket for the same holder.
func holderManifest(t *testing.T, priv ed25519.PrivateKey, version uint64, signed, crm, uid string, h ticket.Holder) []byte {
	t.Helper()
	key := bytes.Repeat([]byte{7}, manifest.CardKeySize)
	seal := func(secret string) []byte {
		b, err := ticket.Seal(secret, h)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	m := &manifest.Manifest{Format: manifest.Format, Kind: manifest.KindSnapshot, Version: version, IssuedAt: time.Now(), CardKey: key,
		Event: manifest.Event{ID: DemoEvent, Name: "Briefing"},
		Tickets: []manifest.Ticket{
			{ID: "1", CodeHash: ticket.CodeHash(signed), NameMasked: ticket.MaskName(h.Name), PhoneMasked: ticket.MaskPhone(h.Phone), Holder: seal(signed)},
			{ID: "2", CodeHash: ticket.CodeHash(crm), NameMasked: ticket.MaskName(h.Name), PhoneMasked: ticket.MaskPhone(h.Phone), Holder: seal(crm)},
		},
		Cards: []manifest.Card{{UIDHash: ticket.CardHash(key, uid), Ticket: "2", Holder: seal(ticket.NormalizeUID(uid))}},
	}
	raw, err := manifest.Sign(priv, m)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestStore_holdsNoClearPersonalData(t *testing.T) {
	f := newFixture(t, defaultPolicy())
	h := ticket.Holder{Name: "欧阳明珠", Phone: "13912345678"}
	uid := "04:A1:B2:C3:D4:E5:F6"
	signed, err := ticket.Sign(f.priv, ticket.Claims{Event: DemoEvent, Number: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.box.ApplyManifest(holderManifest(t, f.priv, 2, signed, "CRM-778899", uid, h)); err != nil {
		t.Fatal(err)
	}
	if v := f.present(t, Code, signed); v.Verdict != "admitted" || v.Name != ticket.MaskName(h.Name) || v.Phone != "139****5678" {
		t.Fatalf("signed: %+v", v)
	}
	if v := f.present(t, Card, uid); v.Verdict != "admitted" || v.Ticket != "2" {
		t.Fatalf("card: %+v", v)
	}
	if v := f.present(t, Code, "CRM-778899"); v.Reason != "already-used" {
		t.Fatalf("crm code after its card: %+v", v)
	}
	f.store.Close()
	data, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{h.Name, h.Phone, "12345678", "04A1B2C3D4E5F6", "04:A1:B2:C3", "04a1b2c3", signed, "CRM-778899"} {
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("the store file holds %q in clear", secret)
		}
	}
}

func TestPresent_revokedAndReissued(t *testing.T) {
	f := newFixture(t, defaultPolicy())
	if err := f.store.Revoke(DemoEvent, "5"); err != nil {
		t.Fatal(err)
	}
	if v := f.present(t, Code, f.codes[4]); v.Reason != "revoked" {
		t.Fatalf("revoked: %+v", v)
	}
	// Ticket 1 re-issued under a new code: the old code is revoked.
	signed, err := ticket.Sign(f.priv, ticket.Claims{Event: DemoEvent, Number: 1, Zone: "", From: time.Now().Add(-time.Hour), Until: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.box.ApplyManifest(holderManifest(t, f.priv, 2, signed, "CRM-1", "0102", ticket.Holder{Name: "李四", Phone: "13800000000"})); err != nil {
		t.Fatal(err)
	}
	if v := f.present(t, Code, f.codes[0]); v.Reason != "revoked" {
		t.Fatalf("old code of a re-issued ticket: %+v", v)
	}
	if v := f.present(t, Code, signed); v.Verdict != "admitted" {
		t.Fatalf("new code: %+v", v)
	}
}

func TestPresent_feverHeld(t *testing.T) {
	f := newFixture(t, defaultPolicy())
	th := sim.NewThermometer(38.2)
	f.box.opts.Thermometer = th
	if v := f.present(t, Code, f.codes[1]); v.Verdict != "held" || v.Reason != "fever" || v.TempC == nil || *v.TempC != 38.2 {
		t.Fatalf("fever: %+v", v)
	}
	th.Set(36.4)
	if v := f.present(t, Code, f.codes[2]); v.Verdict != "admitted" || *v.TempC != 36.4 {
		t.Fatalf("normal: %+v", v)
	}
}

func TestHTTP_scanStatusStream(t *testing.T) {
	f := newFixture(t, defaultPolicy())
	signal := &sim.Signal{}
	f.box.opts.Signal = signal
	srv := httptest.NewServer(f.box.Handler())
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/stream", nil)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if ct := stream.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream content type %q", ct)
	}
	events := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(stream.Body)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "event: ") {
				event = strings.TrimPrefix(line, "event: ")
			}
			if strings.HasPrefix(line, "data: ") && event == "verdict" {
				events <- strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	waitSubscribed(t, f.box)

	post := func(body string) (*http.Response, map[string]any) {
		t.Helper()
		resp, err := http.Post(srv.URL+"/api/scan", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp, m
	}
	resp, v := post(`{"code":"` + f.codes[0] + `"}`)
	if resp.StatusCode != 200 || v["verdict"] != "admitted" || v["ticket"] != "1" || v["reason"] != "ok" || v["at"] == nil {
		t.Fatalf("scan: %d %v", resp.StatusCode, v)
	}
	select {
	case data := <-events:
		var sv Verdict
		if err := json.Unmarshal([]byte(data), &sv); err != nil || sv.Verdict != "admitted" || sv.Ticket != "1" {
			t.Fatalf("stream event %s (%v)", data, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no verdict on the stream")
	}
	if got := signal.Shown(); len(got) != 1 || got[0] != "admitted" {
		t.Fatalf("signals %v", got)
	}
	for _, bad := range []string{`{"code":`, `{"code":"x","extra":1}`, `{"code":"a"}{"code":"b"}`, `{"code":"a","card":"b"}`, strings.Repeat("x", 5000)} {
		if resp, _ := post(bad); resp.StatusCode != 400 {
			t.Errorf("bad body %.20q: status %d", bad, resp.StatusCode)
		}
	}
	post(`{"code":"nonsense"}`)

	status := func() Status {
		t.Helper()
		resp, err := http.Get(srv.URL + "/api/status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var s Status
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := status()
	if s.Box != "gate-1" || s.Venue != "sh-pudong" || s.Online || s.Queued != 2 || s.ManifestVersion != 1 ||
		s.Counts.Admitted != 1 || s.Counts.Rejected != 1 || len(s.Events) != 1 || s.Events[0].Expected != 20 {
		t.Fatalf("status %+v", s)
	}
	// Counts come from the store: they survive a restart.
	f.store.Close()
	f.open(t, defaultPolicy())
	srv.Config.Handler = f.box.Handler()
	if s := status(); s.Counts.Admitted != 1 || s.Counts.Rejected != 1 || s.Queued != 2 || s.Boot != 2 {
		t.Fatalf("status after restart %+v", s)
	}
}

func waitSubscribed(t *testing.T, b *Box) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b.stream.mu.Lock()
		n := len(b.stream.subs)
		b.stream.mu.Unlock()
		if n > 0 {
			return
		}
	}
	t.Fatal("the stream never subscribed")
}

// flaky is a scanner that fails after each code, as an unplugged one does.
type flaky struct {
	codes chan string
}

func (f *flaky) Scan(ctx context.Context) (string, error) {
	select {
	case c := <-f.codes:
		if c == "garbage" {
			return c, device.ErrUnreadable
		}
		return c, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
func (f *flaky) String() string { return "flaky" }

func TestReadScanner_reopensAndDecides(t *testing.T) {
	f := newFixture(t, defaultPolicy())
	dev := &flaky{codes: make(chan string, 4)}
	opens := 0
	fails := true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.box.ReadScanner(ctx, "scanner", func() (device.Scanner, io.Closer, error) {
			opens++
			if fails {
				fails = false
				return nil, nil, os.ErrNotExist // unplugged at start
			}
			return dev, nil, nil
		})
	}()
	ch := f.box.stream.subscribe()
	dev.codes <- "garbage"
	dev.codes <- f.codes[5]
	var got []string
	for len(got) < 2 {
		select {
		case data := <-ch:
			var v Verdict
			json.Unmarshal(data, &v)
			got = append(got, v.Verdict+" "+v.Reason)
		case <-time.After(20 * time.Second):
			t.Fatalf("verdicts so far %v", got)
		}
	}
	cancel()
	<-done
	if got[0] != "rejected unreadable" || got[1] != "admitted ok" || opens != 2 {
		t.Fatalf("verdicts %v after %d opens", got, opens)
	}
	if s, _ := f.box.Status(); s.Devices["scanner"] != "up" {
		t.Fatalf("device state %v", s.Devices)
	}
}

func TestStart_badManifestFileKeepsTheGate(t *testing.T) {
	dir := t.TempDir()
	if _, err := ticket.GenerateKey(dir); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"garbage.json": "{not json", "empty.json": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, file := range []string{"garbage.json", "empty.json", "missing.json"} {
		var logs bytes.Buffer
		d, err := Start(&config.Box{
			Box: config.Identity{ID: "gate-1", Venue: "v", Org: "o"}, StateDir: filepath.Join(dir, file+".state"),
			Trust: []string{filepath.Join(dir, "signing.pub")}, Manifest: filepath.Join(dir, file),
			HTTP: config.HTTP{Listen: "127.0.0.1:0"},
		}, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatalf("%s: the box did not start: %v", file, err)
		}
		if !strings.Contains(logs.String(), "manifest file not applied") {
			t.Errorf("%s: not logged: %s", file, logs.String())
		}
		if v, err := d.Box.Present(context.Background(), Code, "CRM-1"); err != nil || v.Reason != "unknown" {
			t.Errorf("%s: the gate does not decide: %+v %v", file, v, err)
		}
		d.Store.Close()
		d.ln.Close()
	}
}

// garbage is a scanner that floods unreadable input without pause.
type garbage struct{}

func (garbage) Scan(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return "\x01\x02", device.ErrUnreadable
}
func (garbage) String() string { return "garbage" }

// TestReadScanner_floodDoesNotStarveOthers floods the box from one device
// while another delivers cards: the cards are decided at once, and the
// flood records only a few unreadable check-ins.
func TestReadScanner_floodDoesNotStarveOthers(t *testing.T) {
	f := newFixture(t, defaultPolicy())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() {
		f.box.ReadScanner(ctx, "scanner", func() (device.Scanner, io.Closer, error) { return garbage{}, nil, nil })
		done <- struct{}{}
	}()
	cards := &flaky{codes: make(chan string, 4)}
	go func() {
		f.box.ReadScanner(ctx, "second-scanner", func() (device.Scanner, io.Closer, error) { return cards, nil, nil })
		done <- struct{}{}
	}()
	time.Sleep(300 * time.Millisecond) // the flood runs
	cards.codes <- f.codes[3]
	deadline := time.After(10 * time.Second)
	for admitted := false; !admitted; {
		select {
		case <-deadline:
			t.Fatal("the other device's scan was not decided during the flood")
		case <-time.After(20 * time.Millisecond):
			uses, _ := f.store.Admissions(DemoEvent, "4")
			admitted = len(uses) == 1
		}
	}
	cancel()
	<-done
	<-done
	if q, _ := f.store.Queued(); q > 10 {
		t.Fatalf("the flood recorded %d check-ins", q)
	}
}
