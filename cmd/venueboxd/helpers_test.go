package main

// Helpers shared by the process-level tests of this package: they build
// the real binaries, write their YAML configurations, run them as child
// processes that a test can SIGKILL and start again, and talk to them over
// their HTTP APIs as a kiosk, a scanner or an HQ operator would.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"venuebox/cmd/internal/box"
	"venuebox/cmd/internal/ticket"
	"venuebox/sync/mqttconn"
	"venuebox/sync/mqtttest"
)

// builds holds the binaries, built at most once per test process and
// flavour into a folder that TestMain removes.
var builds struct {
	mu  sync.Mutex
	dir string
	bin map[bool][2]string // race-built? → venueboxd, venuebox-hq
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builds.dir != "" {
		os.RemoveAll(builds.dir) // a temporary folder; nothing to do if it stays
	}
	os.Exit(code)
}

// raceEnabled reports whether this test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// buildBinaries builds venueboxd and venuebox-hq, with -race when this
// test binary has it, so that a data race in a daemon shows in its log
// (checkLogs fails on it).
func buildBinaries(t *testing.T) (boxd, hqd string) {
	t.Helper()
	return buildFlavour(t, raceEnabled())
}

// buildFlavour builds the daemons with or without the race detector, once
// per test process. A race-built daemon is several times slower: a test
// that needs throughput asks for plain ones.
func buildFlavour(t *testing.T, race bool) (boxd, hqd string) {
	t.Helper()
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if b, ok := builds.bin[race]; ok {
		return b[0], b[1]
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "venueboxd-test-")
		if err != nil {
			t.Fatal(err)
		}
		builds.dir, builds.bin = dir, map[bool][2]string{}
	}
	sub := filepath.Join(builds.dir, map[bool]string{false: "plain", true: "race"}[race])
	boxd, hqd = filepath.Join(sub, "venueboxd"), filepath.Join(sub, "venuebox-hq")
	for out, pkg := range map[string]string{boxd: "venuebox/cmd/venueboxd", hqd: "venuebox/cmd/venuebox-hq"} {
		args := []string{"build", "-o", out}
		if race {
			args = append(args, "-race")
		}
		if b, err := exec.Command("go", append(args, pkg)...).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	builds.bin[race] = [2]string{boxd, hqd}
	return boxd, hqd
}

// logBuffer collects a child's output; it is safe to read while the child
// writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// child is a daemon process that a test can SIGKILL and start again.
type child struct {
	t    *testing.T
	args []string
	log  *logBuffer
	cmd  *exec.Cmd
	done chan struct{}
}

func (d *child) start() {
	d.t.Helper()
	d.cmd = exec.Command(d.args[0], d.args[1:]...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.done = make(chan struct{})
	go func() { d.cmd.Wait(); close(d.done) }()
}

// kill sends SIGKILL and waits for the process to be gone.
func (d *child) kill() {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Kill() // it may have exited already; Wait tells
	<-d.done
}

// running reports whether the process is still up.
func (d *child) running() bool {
	if d.cmd == nil {
		return false
	}
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func waitHTTP(t *testing.T, c *http.Client, url string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			return
		}
	}
	t.Fatalf("%s never answered", url)
}

// getJSON decodes url's answer into v, ignoring errors: the caller polls.
func getJSON(t *testing.T, c *http.Client, url string, v any) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return // a daemon restarting; the caller polls again
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(v)
}

// fetchJSON decodes url's answer into v and reports what went wrong.
func fetchJSON(c *http.Client, url string, v any) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

func tail(s string) string {
	if len(s) > 6000 {
		return s[len(s)-6000:]
	}
	return s
}

// eventually polls ok every 50 ms until it holds or within has passed.
func eventually(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		if ok() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
	}
}

// fixture is the files that a fleet of daemons shares: a signing key, a
// demo event's manifest and HQ's token.
type fixture struct {
	t         *testing.T
	dir       string
	boxd, hqd string
	priv      ed25519.PrivateKey
	codes     []string
	manifest  []byte
	client    *http.Client
	daemons   []*proc
	hqToken   string
	race      bool // the daemons are race-built
}

// newFixture builds the binaries (race-built when the test is and race
// allows it) and issues a demo event of n tickets.
func newFixture(t *testing.T, n int, race bool) *fixture {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the daemons")
	}
	if mqtttest.Binary() == "" {
		t.Skip("mosquitto binary not found (apt-get install mosquitto; scripts/test does it)")
	}
	f := &fixture{t: t, dir: t.TempDir(), hqToken: "process-test-token-0123456789"}
	f.race = race && raceEnabled()
	f.boxd, f.hqd = buildFlavour(t, f.race)
	if _, err := ticket.GenerateKey(f.dir); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.priv, err = ticket.LoadPrivateKey(filepath.Join(f.dir, "signing.key")); err != nil {
		t.Fatal(err)
	}
	if f.codes, f.manifest, err = box.DemoManifest(f.priv, n); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(f.dir, "manifest.json"), string(f.manifest))
	writeFile(t, filepath.Join(f.dir, "token"), f.hqToken+"\n")
	f.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	t.Cleanup(func() {
		for _, d := range f.daemons {
			d.kill()
		}
		if t.Failed() {
			for _, d := range f.daemons {
				t.Logf("%s log:\n%s", d.name, tail(d.log.String()))
			}
		}
	})
	return f
}

// proc is a venueboxd or venuebox-hq child with its API's base URL.
type proc struct {
	*child
	name  string
	api   string
	ready string // a URL that answers once the daemon serves
}

// hq writes an HQ configuration for brokerURL and starts HQ.
func (f *fixture) hq(brokerURL string) *proc {
	f.t.Helper()
	port := mqtttest.FreePort(f.t)
	cfg := filepath.Join(f.dir, "hq.yaml")
	writeFile(f.t, cfg, fmt.Sprintf("state_dir: hq\nhttp: {listen: 127.0.0.1:%d}\nmqtt: {url: %s}\nsigning_key: signing.key\ntoken_file: token\n",
		port, brokerURL))
	api := fmt.Sprintf("http://127.0.0.1:%d", port)
	return f.run("hq", api, api+"/api/boxes", f.hqd, "-config", cfg)
}

// box writes a box configuration (gate id, venue, broker) and starts it;
// its state lives in its own folder, its manifest is the fixture's.
func (f *fixture) box(id, venue, brokerURL string) *proc {
	f.t.Helper()
	port := mqtttest.FreePort(f.t)
	cfg := filepath.Join(f.dir, id+".yaml")
	writeFile(f.t, cfg, fmt.Sprintf("box: {id: %s, venue: %s, org: demo-bank}\nstate_dir: state-%s\ntrust: [signing.pub]\nmanifest: manifest.json\n"+
		"http: {listen: 127.0.0.1:%d}\nmqtt: {url: %s}\n", id, venue, id, port, brokerURL))
	api := fmt.Sprintf("http://127.0.0.1:%d", port)
	return f.run(id, api, api+"/api/status", f.boxd, "-config", cfg)
}

func (f *fixture) run(name, api, ready string, args ...string) *proc {
	f.t.Helper()
	d := &proc{child: &child{t: f.t, args: args, log: new(logBuffer)}, name: name, api: api, ready: ready}
	f.daemons = append(f.daemons, d)
	d.start()
	waitHTTP(f.t, f.client, ready)
	return d
}

// restart starts a killed daemon again and waits for its API.
func (f *fixture) restart(d *proc) {
	f.t.Helper()
	d.start()
	waitHTTP(f.t, f.client, d.ready)
}

// scan presents a code at a box over its API, as manual entry does.
func (f *fixture) scan(d *proc, code string) (box.Verdict, error) {
	body, _ := json.Marshal(map[string]string{"code": code}) // a map of strings always marshals
	resp, err := f.client.Post(d.api+"/api/scan", "application/json", bytes.NewReader(body))
	if err != nil {
		return box.Verdict{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return box.Verdict{}, fmt.Errorf("scan at %s: %s: %s", d.name, resp.Status, b)
	}
	var v box.Verdict
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return box.Verdict{}, fmt.Errorf("scan at %s: %w", d.name, err)
	}
	return v, nil
}

// status reads a box's /api/status.
func (f *fixture) status(d *proc) (box.Status, error) {
	var s box.Status
	err := fetchJSON(f.client, d.api+"/api/status", &s)
	return s, err
}

// attendanceRow is one row of HQ's attendance as the API gives it.
type attendanceRow struct {
	Ticket, Box, Gate, Verdict, Reason, Nonce string
	Time                                      time.Time
}

// conflictRow is one conflict as HQ's API gives it.
type conflictRow struct {
	Event, Ticket string
	Admissions    []struct{ Nonce, Box, Gate, Verdict, Reason string }
}

// fleetRow is one box as HQ's /api/boxes gives it.
type fleetRow struct {
	Box, Org, Venue string
	Online          bool
	Queued          int
	ManifestVersion map[string]uint64 `json:"manifest_version"`
}

// badLog matches what must never appear in a daemon's output: a panic, a
// fatal runtime error or, with race-built daemons, a data race.
var badLog = regexp.MustCompile(`(?m)^(panic: |fatal error: |WARNING: DATA RACE)`)

// checkLogs fails the test if a daemon panicked or raced.
func (f *fixture) checkLogs() {
	f.t.Helper()
	for _, d := range f.daemons {
		if loc := badLog.FindStringIndex(d.log.String()); loc != nil {
			s := d.log.String()
			f.t.Errorf("%s: %s", d.name, s[loc[0]:min(len(s), loc[0]+3000)])
		}
	}
}

// logCount counts the lines of d's log that contain every one of parts.
func logCount(d *proc, parts ...string) int {
	n := 0
	for _, line := range strings.Split(d.log.String(), "\n") {
		ok := true
		for _, p := range parts {
			if !strings.Contains(line, p) {
				ok = false
				break
			}
		}
		if ok {
			n++
		}
	}
	return n
}

// subscribe runs an MQTT client that passes each message on filter to h,
// reconnecting as the broker comes and goes, until the test ends.
func subscribe(t *testing.T, url, id, filter string, h mqttconn.Handler) {
	t.Helper()
	c, err := mqttconn.New(mqttconn.Config{URL: url, ClientID: id}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(filter, 1, h); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	eventually(t, id+" connected", 10*time.Second, c.Connected)
}
