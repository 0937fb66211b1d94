package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"venuebox/cmd/internal/manifest"
	"venuebox/cmd/internal/ticket"
	"venuebox/store/hqpg"
	"venuebox/store/hqpg/pgtest"
	"venuebox/sync/mqttconn"
	"venuebox/sync/mqtttest"
	"venuebox/sync/wire"
)

// The venuebox tool (for loadgen), built once per test process.
var toolBuild struct {
	once sync.Once
	path string
	err  error
}

func buildTool(t testing.TB) string {
	t.Helper()
	toolBuild.once.Do(func() {
		builds.mu.Lock()
		dir := builds.dir // made by buildFlavour, removed by TestMain
		builds.mu.Unlock()
		if dir == "" {
			toolBuild.err = fmt.Errorf("buildTool before buildFlavour")
			return
		}
		toolBuild.path = filepath.Join(dir, "venuebox")
		if b, err := exec.Command("go", "build", "-o", toolBuild.path, "venuebox/cmd/venuebox").CombinedOutput(); err != nil {
			toolBuild.err = fmt.Errorf("go build venuebox: %v\n%s", err, b)
		}
	})
	if toolBuild.err != nil {
		t.Fatal(toolBuild.err)
	}
	return toolBuild.path
}

// replicaHQ writes the configuration of HQ replica name on the shared
// PostgreSQL database and starts it.
func (f *fixture) replicaHQ(name, brokerURL, dsn string) *proc {
	f.t.Helper()
	port := mqtttest.FreePort(f.t)
	cfg := filepath.Join(f.dir, name+".yaml")
	writeFile(f.t, cfg, fmt.Sprintf("state_dir: state-%s\nhttp: {listen: 127.0.0.1:%d}\nmqtt: {url: %s}\nsigning_key: signing.key\ntoken_file: token\n"+
		"store: {driver: postgres, dsn: %q}\n", name, port, brokerURL, dsn))
	api := fmt.Sprintf("http://127.0.0.1:%d", port)
	return f.run(name, api, api+"/api/boxes", f.hqd, "-config", cfg)
}

// loadReport is the part of `venuebox loadgen -json` the tests read.
type loadReport struct {
	Generated, Acked, Queued int
	Drained                  bool
	IngestRate               float64 `json:"ingest_rate"`
	SustainedRate            float64 `json:"sustained_rate"`
	DrainSeconds             float64 `json:"drain_seconds"`
	Resent                   int64
	Outages, Reboots         int64
	Steps                    []struct {
		Target, Achieved float64
		AckRate          float64 `json:"ack_rate"`
		P50              float64 `json:"ack_p50_ms"`
		P99              float64 `json:"ack_p99_ms"`
		Sustained        bool
	}
	PerBox []struct {
		Box   string
		Boots map[uint64]uint64
	} `json:"per_box"`
}

// startLoadgen runs `venuebox loadgen -json args...`; wait returns its
// report.
func startLoadgen(t testing.TB, tool string, args ...string) (wait func() loadReport) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(tool, append([]string{"loadgen", "-json"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return func() loadReport {
		t.Helper()
		err := cmd.Wait()
		var r loadReport
		if jerr := json.Unmarshal(out.Bytes(), &r); jerr != nil {
			t.Fatalf("loadgen: %v, report unreadable: %v\nstderr: %s", err, jerr, tail(errb.String()))
		}
		if err != nil {
			t.Errorf("loadgen: %v (queued %d)\nstderr: %s", err, r.Queued, tail(errb.String()))
		}
		return r
	}
}

// storedByReplica reads how many check-ins a replica stored, from its
// /metrics; -1 when it does not answer.
func storedByReplica(c *http.Client, d *proc) int {
	resp, err := c.Get(d.api + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, `venuebox_hq_checkins_ingested_total{result="stored"}`) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64) // a malformed line reads as 0
			return int(v)
		}
	}
	return 0
}

// checkDatabase holds the database to what the fleet made: every check-in
// of every boot of every virtual box exactly once (count = highest
// sequence number = the last the box made, under the unique key on box,
// boot and seq), nothing else, and the store consistent.
func checkDatabase(t *testing.T, dsn string, r loadReport) {
	t.Helper()
	ctx := context.Background()
	st, err := hqpg.Open(ctx, dsn, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Check(); err != nil {
		t.Error(err)
	}
	n, err := st.Count()
	if err != nil || n != r.Generated {
		t.Errorf("the database holds %d check-ins (%v), the fleet made %d", n, err, r.Generated)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT box, boot, count(*), max(seq) FROM checkins GROUP BY box, boot`)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		box  string
		boot uint64
	}
	held := map[key][2]int64{}
	var box string
	var boot, cnt, mx int64
	if _, err := pgx.ForEachRow(rows, []any{&box, &boot, &cnt, &mx}, func() error {
		held[key{box, uint64(boot)}] = [2]int64{cnt, mx}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, b := range r.PerBox {
		for boot, last := range b.Boots {
			k := key{b.Box, boot}
			if h := held[k]; h[0] != int64(last) || h[1] != int64(last) {
				if bad++; bad <= 5 {
					t.Errorf("%s boot %d: the box made 1..%d, the database holds %d up to %d", b.Box, boot, last, h[0], h[1])
				}
			}
			delete(held, k)
		}
	}
	for k := range held {
		t.Errorf("the database holds check-ins of %s boot %d, which the fleet never made", k.box, k.boot)
	}
}

// TestReplicas_fleetExactlyOnce runs three HQ replicas on one Mosquitto
// (a shared subscription splits the boxes' batches between them) and one
// PostgreSQL, and `venuebox loadgen` with 200 virtual boxes scanning at
// 400 check-ins/s for 20 s, each box going off the broker now and then
// (some of those outages are reboots: a new boot, numbering from 1). Mid-run
// one replica is SIGKILLed and a fourth started. Every virtual outbox
// drains (each check-in acknowledged by whichever replica stored it), and
// the database holds every check-in the fleet made exactly once.
func TestReplicas_fleetExactlyOnce(t *testing.T) {
	start := time.Now()
	f := newFixture(t, 10, false) // plain daemons: this test is about throughput and crashes
	pg := pgtest.Start(t, nil)
	dsn := pg.NewDatabase(t)
	broker := mqtttest.Start(t, nil)
	tool := buildTool(t)
	var hqs []*proc
	for i := 1; i <= 3; i++ {
		hqs = append(hqs, f.replicaHQ(fmt.Sprintf("hq-%d", i), broker.URL, dsn))
	}
	wait := startLoadgen(t, tool, "-broker", broker.URL, "-boxes", "200", "-rate", "400", "-duration", "20s",
		"-outage-every", "10s", "-outage-for", "2s", "-reboot", "0.3", "-drain", "30s")
	time.Sleep(8 * time.Second)
	stored := storedByReplica(f.client, hqs[0])
	hqs[0].kill()
	t.Logf("hq-1 SIGKILLed 8 s into the run, having stored %d check-ins", stored)
	hqs = append(hqs, f.replicaHQ("hq-4", broker.URL, dsn))
	r := wait()
	t.Logf("fleet: %d check-ins made, %d acknowledged, %d queued, drained %v (%.1f s after scanning), %d sent again, %d outages, %d reboots",
		r.Generated, r.Acked, r.Queued, r.Drained, r.DrainSeconds, r.Resent, r.Outages, r.Reboots)
	for _, d := range hqs[1:] {
		t.Logf("%s stored %d check-ins", d.name, storedByReplica(f.client, d))
	}
	if !r.Drained || r.Queued != 0 || r.Acked != r.Generated {
		t.Errorf("the outboxes did not drain: %d made, %d acknowledged, %d queued", r.Generated, r.Acked, r.Queued)
	}
	if r.Generated < 6000 || r.Outages == 0 || r.Reboots == 0 {
		t.Errorf("the run was too small to show anything: %d check-ins, %d outages, %d reboots", r.Generated, r.Outages, r.Reboots)
	}
	checkDatabase(t, dsn, r)
	for _, d := range hqs[1:] {
		if n := storedByReplica(f.client, d); n <= 0 {
			t.Errorf("%s stored no check-in: the shared subscription did not split the load", d.name)
		}
	}
	f.checkLogs()
	t.Logf("took %v", time.Since(start).Round(time.Millisecond))
}

// TestReplicas_manifestLeader runs three HQ replicas and a box: one
// replica leads the manifest publisher. A new manifest version posted to
// a follower is published to the venue once, by the leader, and reaches
// the box; when the leader is SIGKILLed another takes over within the
// lease's TTL and publishes the next version, once. A watcher on the
// venue's manifest topic counts every publication.
func TestReplicas_manifestLeader(t *testing.T) {
	start := time.Now()
	f := newFixture(t, 20, false)
	pg := pgtest.Start(t, nil)
	dsn := pg.NewDatabase(t)
	broker := mqtttest.Start(t, nil)
	var mu sync.Mutex
	published := map[uint64]int{} // version → first chunks seen on the venue topic
	subscribe(t, broker.URL, "watcher", wire.VenueTopic("demo-bank", "demo-venue", wire.KindManifest), func(m mqttconn.Message) {
		var c wire.ManifestChunk
		if err := wire.Decode(m.Payload, &c); err != nil {
			t.Errorf("a manifest chunk that does not decode: %v", err)
			return
		}
		if c.Index == 0 {
			mu.Lock()
			published[c.Version]++
			mu.Unlock()
		}
	})
	var hqs []*proc
	for i := 1; i <= 3; i++ {
		hqs = append(hqs, f.replicaHQ(fmt.Sprintf("hq-%d", i), broker.URL, dsn))
	}
	gate := f.box("gate-1", "demo-venue", broker.URL)
	leader := func(not *proc) *proc {
		t.Helper()
		var l *proc
		eventually(t, "a replica leads the manifest publisher", 15*time.Second, func() bool {
			for _, d := range hqs {
				if d != not && d.running() && logCount(d, "lease taken") > logCount(d, "lease lost") {
					l = d
					return true
				}
			}
			return false
		})
		return l
	}
	eventually(t, "HQ sees the box", 20*time.Second, func() bool {
		var fleet []fleetRow
		getJSON(t, f.client, hqs[0].api+"/api/boxes", &fleet)
		return len(fleet) == 1 && fleet[0].Online
	})
	next := func(version uint64) []byte {
		t.Helper()
		m, err := manifest.Parse(f.manifest, ticket.NewKeyring(f.priv.Public().(ed25519.PublicKey)))
		if err != nil {
			t.Fatal(err)
		}
		m.Version, m.IssuedAt = version, time.Now().UTC()
		raw, err := manifest.Sign(f.priv, m)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	post := func(d *proc, raw []byte) {
		t.Helper()
		req, _ := http.NewRequest("POST", d.api+"/api/manifests", bytes.NewReader(raw)) // a fixed method and URL
		req.Header.Set("Authorization", "Bearer "+f.hqToken)
		resp, err := f.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /api/manifests to %s: %s", d.name, resp.Status)
		}
	}
	boxHas := func(version uint64) {
		t.Helper()
		eventually(t, fmt.Sprintf("the box applies version %d", version), 15*time.Second, func() bool {
			s, err := f.status(gate)
			return err == nil && s.ManifestVersion >= version
		})
	}
	once := func(version uint64) {
		t.Helper()
		eventually(t, fmt.Sprintf("version %d published", version), 10*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return published[version] > 0
		})
	}

	first := leader(nil)
	var follower *proc
	for _, d := range hqs {
		if d != first {
			follower = d
			break
		}
	}
	t.Logf("%s leads; version 2 goes to %s", first.name, follower.name)
	post(follower, next(2))
	once(2)
	boxHas(2)

	killed := time.Now()
	first.kill()
	second := leader(first)
	t.Logf("%s SIGKILLed; %s leads %v later", first.name, second.name, time.Since(killed).Round(time.Millisecond))
	var other *proc
	for _, d := range hqs {
		if d != first && d != second {
			other = d
		}
	}
	post(other, next(3))
	once(3)
	boxHas(3)
	time.Sleep(3 * time.Second) // time for a second publication, if there were one
	mu.Lock()
	defer mu.Unlock()
	if published[2] != 1 || published[3] != 1 {
		t.Errorf("publications on the venue topic by version: %v; want each once", published)
	}
	if n := logCount(first, "manifest published", "version=2"); n != 1 {
		t.Errorf("%s logged version 2 published %d times, want once (it led then)", first.name, n)
	}
	if n := logCount(second, "manifest published", "version=3"); n != 1 {
		t.Errorf("%s logged version 3 published %d times, want once (it led then)", second.name, n)
	}
	for _, d := range hqs {
		if d != first && d != second && logCount(d, "manifest published") > 0 {
			t.Errorf("%s published though it never led", d.name)
		}
	}
	f.checkLogs()
	t.Logf("took %v", time.Since(start).Round(time.Millisecond))
}
