package box

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/health"
	"venuebox/cmd/internal/ticket"
	"venuebox/store"
)

// daemonEnv is what a daemon test runs on: a key, a manifest file with
// n tickets, a state directory.
type daemonEnv struct {
	dir   string
	codes []string
	cfg   *config.Box
	logs  *syncBuffer
}

func newDaemonEnv(t *testing.T, n int) *daemonEnv {
	t.Helper()
	dir := t.TempDir()
	if _, err := ticket.GenerateKey(dir); err != nil {
		t.Fatal(err)
	}
	priv, err := ticket.LoadPrivateKey(filepath.Join(dir, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	codes, raw, err := DemoManifest(priv, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return &daemonEnv{dir: dir, codes: codes, logs: &syncBuffer{}, cfg: &config.Box{
		Box: config.Identity{ID: "gate-1", Venue: "demo-venue", Org: "demo-bank"}, StateDir: filepath.Join(dir, "state"),
		Trust: []string{filepath.Join(dir, "signing.pub")}, Manifest: filepath.Join(dir, "manifest.json"),
		HTTP:    config.HTTP{Listen: "127.0.0.1:0"},
		Devices: config.Devices{Scanner: &config.Scanner{Driver: config.ScannerSim}},
		Policy:  config.Policy{DoubleScanWindow: 3 * time.Second, FeverC: 37.3, ClockSkew: 5 * time.Minute},
	}}
}

// run starts the daemon and returns it with a function that stops it.
func (e *daemonEnv) run(t *testing.T) (*Daemon, func()) {
	t.Helper()
	d, err := Start(e.cfg, slog.New(slog.NewTextHandler(e.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
	t.Cleanup(stop)
	return d, stop
}

// syncBuffer is a log the daemon's goroutines write while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func httpGet(t *testing.T, d *Daemon, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + d.Addr.String() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func scan(t *testing.T, d *Daemon, code string) Verdict {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"code": code})
	resp, err := http.Post("http://"+d.Addr.String()+"/api/scan", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v Verdict
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("scan: %d %v", resp.StatusCode, err)
	}
	return v
}

// waitFor polls cond every 10 ms for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// wedge holds the store's write lock the way a stuck decision would:
// inside Admit's transaction. The returned function lets it go.
func wedge(t *testing.T, st *store.Store) func() {
	t.Helper()
	entered, release, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		st.Admit(store.Presented{Input: []byte("wedge"), Gate: "gate-1"}, func(store.Found) store.Outcome {
			close(entered)
			<-release
			return store.Outcome{Verdict: "rejected", Reason: "unreadable", At: time.Now()}
		})
	}()
	<-entered
	return func() { close(release); <-done }
}

func TestDaemon_healthzAndMetrics(t *testing.T) {
	old := storeUnhealthyAfter
	storeUnhealthyAfter = 0
	t.Cleanup(func() { storeUnhealthyAfter = old })
	e := newDaemonEnv(t, 20)
	d, _ := e.run(t)

	waitFor(t, "the simulated scanner up", func() bool { s, _ := d.Box.Status(); return s.Devices["scanner"] == "up" })
	code, body := httpGet(t, d, "/healthz")
	if code != 200 {
		t.Fatalf("/healthz %d %s", code, body)
	}
	var rep health.Report
	json.Unmarshal([]byte(body), &rep)
	var names []string
	for _, c := range rep.Conditions {
		names = append(names, c.Name)
	}
	if want := []string{"scanner-down", "manifest-stale", "store-unhealthy"}; !slices.Equal(names, want) {
		t.Errorf("conditions %v, want %v (no broker configured: no hq-unreachable)", names, want)
	}

	if v := scan(t, d, e.codes[0]); v.Verdict != "admitted" {
		t.Fatalf("scan: %+v", v)
	}
	scan(t, d, e.codes[0]) // a double scan: repeats the verdict, records nothing
	scan(t, d, "CRM-000999")
	if err := d.Scanner.Feed(context.Background(), e.codes[1]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the scanned code decided", func() bool { q, _ := d.Store.Queued(); return q == 3 })
	waitFor(t, "the scanner's decision timed", func() bool {
		_, m := httpGet(t, d, "/metrics")
		return strings.Contains(m, "venuebox_decision_seconds_count 4\n")
	})
	_, metrics := httpGet(t, d, "/metrics")
	for _, want := range []string{
		`venuebox_decisions_total{verdict="admitted",reason="ok"} 2`,
		`venuebox_decisions_total{verdict="rejected",reason="unknown"} 1`,
		"venuebox_outbox_depth 3\n",
		`venuebox_device_up{device="scanner"} 1`,
		`venuebox_manifest_version{event="demo-briefing"} 1`,
		`venuebox_health_failing{condition="store-unhealthy"} 0`,
		"# TYPE venuebox_decision_seconds histogram",
		"venuebox_sync_lag_seconds ",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, metrics)
		}
	}

	// A wedged store fails store-unhealthy, by name.
	d.obs.mon.Check(context.Background()) // store-unhealthy begins to hold…
	release := wedge(t, d.Store)
	waitFor(t, "store-unhealthy", func() bool {
		code, body := httpGet(t, d, "/healthz")
		return code == 503 && strings.Contains(body, `"failing":["store-unhealthy"]`)
	})
	release()
	waitFor(t, "healthy again", func() bool { code, _ := httpGet(t, d, "/healthz"); return code == 200 })
}

func TestDaemon_manifestStaleWithoutManifest(t *testing.T) {
	old := manifestStaleAfter
	manifestStaleAfter = 0
	t.Cleanup(func() { manifestStaleAfter = old })
	e := newDaemonEnv(t, 1)
	e.cfg.Manifest = ""
	e.cfg.Devices = config.Devices{}
	d, _ := e.run(t)
	code, body := httpGet(t, d, "/healthz")
	if code != 503 || !strings.Contains(body, `"failing":["manifest-stale"]`) || !strings.Contains(body, "no manifest applied") {
		t.Errorf("/healthz without a manifest: %d %s", code, body)
	}
}

// notifySocket listens like systemd's notify socket and returns a channel
// of the messages received.
func notifySocket(t *testing.T) <-chan string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("NOTIFY_SOCKET", path)
	msgs := make(chan string, 1000)
	go func() {
		buf := make([]byte, 512)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return msgs
}

// countFor counts the WATCHDOG=1 messages arriving within d.
func countFor(msgs <-chan string, d time.Duration) int {
	n := 0
	timeout := time.After(d)
	for {
		select {
		case m := <-msgs:
			if m == "WATCHDOG=1" {
				n++
			}
		case <-timeout:
			return n
		}
	}
}

func TestDaemon_watchdogPingsStopWhileTheStoreIsWedged(t *testing.T) {
	msgs := notifySocket(t)
	t.Setenv("WATCHDOG_USEC", "400000") // pings every 200 ms
	t.Setenv("WATCHDOG_PID", "")
	e := newDaemonEnv(t, 5)
	d, stop := e.run(t)

	select {
	case m := <-msgs:
		if m != "READY=1" {
			t.Fatalf("first message %q, want READY=1", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no READY=1")
	}
	if n := countFor(msgs, time.Second); n < 3 {
		t.Fatalf("%d pings in 1 s while healthy, want about 5", n)
	}
	release := wedge(t, d.Store)
	countFor(msgs, 250*time.Millisecond) // a ping already on its way
	if n := countFor(msgs, time.Second); n != 0 {
		t.Errorf("%d pings in 1 s while the store is wedged, want none", n)
	}
	if !strings.Contains(e.logs.String(), "watchdog pings stop") {
		t.Errorf("the wedge is not logged:\n%s", e.logs.String())
	}
	release()
	if n := countFor(msgs, time.Second); n < 2 {
		t.Errorf("%d pings in 1 s after the store is free again", n)
	}
	stop()
	var rest []string
	for m := range drain(msgs) {
		rest = append(rest, m)
	}
	if !slices.Contains(rest, "STOPPING=1") {
		t.Errorf("no STOPPING=1 at shutdown: %v", rest)
	}
}

func drain(msgs <-chan string) <-chan string {
	out := make(chan string, 1000)
	timeout := time.After(500 * time.Millisecond)
	go func() {
		defer close(out)
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					return
				}
				out <- m
			case <-timeout:
				return
			}
		}
	}()
	return out
}

// damageCachePage overwrites a page of the ticket cache whose damage
// bbolt's check notices.
func damageCachePage(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const ps = 4096
	for id := len(data)/ps/2 + 1; id*ps+ps <= len(data); id++ {
		page := data[id*ps : id*ps+ps]
		if page[8]&0x02 == 0 || !bytes.Contains(page, []byte(`"code_hash"`)) || bytes.Contains(page, []byte(`"box"`)) {
			continue
		}
		bad := slices.Clone(data)
		copy(bad[id*ps+8:], []byte{0x40, 0, 0xA5, 0xA5, 0xA5, 0xA5, 0xA5, 0xA5, 0xA5, 0xA5})
		try := filepath.Join(t.TempDir(), "try.db")
		if err := os.WriteFile(try, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := bolt.Open(try, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		damaged := false
		db.View(func(tx *bolt.Tx) error {
			for range tx.Check() {
				damaged = true
			}
			return nil
		})
		db.Close()
		if damaged {
			if err := os.WriteFile(path, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			t.Logf("damaged page %d", id)
			return
		}
	}
	t.Fatal("no page of the ticket cache to damage")
}

func TestDaemon_damagedStoreComesUpWithItsCheckIns(t *testing.T) {
	e := newDaemonEnv(t, 2000)
	d, stop := e.run(t)
	for _, c := range e.codes[:10] {
		scan(t, d, c)
	}
	scan(t, d, "CRM-000999") // unknown
	stop()
	path := filepath.Join(e.cfg.StateDir, StoreFile)
	damageCachePage(t, path)

	d, _ = e.run(t)
	logs := e.logs.String()
	if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "STORE DAMAGED") || !strings.Contains(logs, "checkins_kept=11") {
		t.Errorf("recovery not logged loudly:\n%s", logs)
	}
	s, err := d.Box.Status()
	if err != nil {
		t.Fatal(err)
	}
	if s.Queued != 11 || s.Counts.Admitted != 10 || s.Counts.Rejected != 1 || s.Boot != 2 {
		t.Errorf("after recovery: queued %d, counts %+v, boot %d; want 11 queued, 10 admitted, 1 rejected, boot 2", s.Queued, s.Counts, s.Boot)
	}
	if s.ManifestVersion != 1 || len(s.Events) != 1 || s.Events[0].Expected != 2000 {
		t.Errorf("ticket cache not rebuilt from the manifest: %+v", s.Events)
	}
	if v := scan(t, d, e.codes[3]); v.Reason != "already-used" {
		t.Errorf("a ticket admitted before the damage: %s, want already-used", v.Reason)
	}
	if v := scan(t, d, e.codes[1500]); v.Reason != "ok" {
		t.Errorf("a fresh ticket: %s, want ok", v.Reason)
	}
	aside, _ := filepath.Glob(path + ".damaged-*")
	if len(aside) != 1 {
		t.Errorf("damaged files aside: %v", aside)
	}
	entries, _ := os.ReadDir(e.cfg.StateDir)
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	if len(names) != 2 {
		t.Errorf("state directory holds %v; want the store and the damaged file only", names)
	}
}
