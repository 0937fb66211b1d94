package box

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/ticket"
	"venuebox/store/hqstore"
	"venuebox/sync/hqsync"
	"venuebox/sync/mqttconn"
	"venuebox/sync/mqtttest"
	"venuebox/sync/wire"
)

// startDaemon runs a box daemon with a simulated scanner against url.
func startDaemon(t *testing.T, gate, url string, keyDir string, manifestFile string) *Daemon {
	t.Helper()
	cfg := &config.Box{
		Box:      config.Identity{ID: gate, Venue: "sh-pudong", Org: "acme-bank"},
		StateDir: t.TempDir(), Trust: []string{filepath.Join(keyDir, "signing.pub")}, Manifest: manifestFile,
		HTTP: config.HTTP{Listen: "127.0.0.1:0"}, MQTT: config.MQTT{URL: url},
		Devices: config.Devices{Scanner: &config.Scanner{Driver: config.ScannerSim}},
		Policy:  config.Policy{DoubleScanWindow: 3 * time.Second, FeverC: 37.3, ClockSkew: 5 * time.Minute},
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("gate", gate)
	}
	d, err := Start(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", gate, err)
		}
	})
	return d
}

func eventually(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("%s: not within %v", what, within)
}

// TestSync_gatesInStepAndHQHoldsEach runs two box daemons and HQ's ingest
// on a real Mosquitto: an admission at gate 1 is already-used at gate 2
// (the time it took is logged, about 40 ms here; the deadline only guards
// against a hang), HQ holds every check-in once and acknowledges it, the
// outboxes empty, and check-ins made while the broker is down arrive after
// it returns.
func TestSync_gatesInStepAndHQHoldsEach(t *testing.T) {
	broker := mqtttest.Start(t, nil)
	keyDir, _, codes := demoFiles(t, 50)
	mf := filepath.Join(keyDir, "manifest.json")

	hqs, err := hqstore.Open(filepath.Join(t.TempDir(), "hq.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer hqs.Close()
	hq, err := hqsync.New(hqsync.Config{MQTT: mqttconn.Config{URL: broker.URL, ClientID: "hq-1"}, Group: "hq"}, hqs, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	hqCtx, stopHQ := context.WithCancel(context.Background())
	hqDone := make(chan error, 1)
	go func() { hqDone <- hq.Run(hqCtx) }()
	defer func() { stopHQ(); <-hqDone }()

	g1 := startDaemon(t, "gate-1", broker.URL, keyDir, mf)
	g2 := startDaemon(t, "gate-2", broker.URL, keyDir, mf)
	eventually(t, "both gates online", 10*time.Second, func() bool {
		s1, _ := g1.Box.Status()
		s2, _ := g2.Box.Status()
		return s1.Online && s2.Online
	})
	eventually(t, "HQ connected", 10*time.Second, hq.Connected)

	ctx := context.Background()
	v, err := g1.Box.Present(ctx, Code, codes[0])
	if err != nil || v.Verdict != "admitted" {
		t.Fatalf("gate 1: %+v %v", v, err)
	}
	admittedAt := time.Now()
	eventually(t, "gate 2 knows of gate 1's admission", 10*time.Second, func() bool {
		uses, err := g2.Store.Admissions(DemoEvent, "1")
		return err == nil && len(uses) == 1
	})
	t.Logf("gate 2 knew of the admission %v after gate 1 made it", time.Since(admittedAt).Round(time.Millisecond))
	if v2, err := g2.Box.Present(ctx, Code, codes[0]); err != nil || v2.Reason != "already-used" || v2.PriorGate != "gate-1" {
		t.Fatalf("gate 2: %+v %v", v2, err)
	}

	// The broker goes away; both gates keep deciding.
	broker.Stop()
	for _, c := range codes[1:11] {
		if v, err := g1.Box.Present(ctx, Code, c); err != nil || v.Verdict != "admitted" {
			t.Fatalf("offline gate 1: %+v %v", v, err)
		}
	}
	if v, err := g2.Box.Present(ctx, Code, codes[20]); err != nil || v.Verdict != "admitted" {
		t.Fatalf("offline gate 2: %+v %v", v, err)
	}
	if q, _ := g1.Store.Queued(); q < 10 {
		t.Fatalf("gate 1 queued %d while the broker was down", q)
	}
	broker.Start()

	eventually(t, "every outbox empties", 60*time.Second, func() bool {
		q1, _ := g1.Store.Queued()
		q2, _ := g2.Store.Queued()
		return q1 == 0 && q2 == 0
	})
	want := map[string]int{}
	for _, d := range []*Daemon{g1, g2} {
		cs, err := d.Store.CheckIns(1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			want[c.Nonce]++
		}
	}
	att, err := hqs.Attendance(DemoEvent)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, c := range att {
		got[c.Nonce]++
	}
	if len(got) != len(want) {
		t.Fatalf("HQ holds %d check-ins, the boxes made %d", len(got), len(want))
	}
	for n := range want {
		if got[n] != 1 {
			t.Fatalf("HQ holds check-in %s %d times", n, got[n])
		}
	}
	if cf, err := hqs.Conflicts(DemoEvent); err != nil || len(cf) != 0 {
		t.Fatalf("conflicts %+v %v: no ticket was admitted twice", cf, err)
	}
}

// TestSync_revocationMustBeSignedAndFresh publishes revocations to a box's
// venue as a rogue client could: unsigned, signed by a key the box does not
// trust, expired, and one properly signed; only the last is applied.
func TestSync_revocationMustBeSignedAndFresh(t *testing.T) {
	broker := mqtttest.Start(t, nil)
	keyDir, priv, _ := demoFiles(t, 10)
	mf := filepath.Join(keyDir, "manifest.json")
	d := startDaemon(t, "gate-1", broker.URL, keyDir, mf)
	eventually(t, "online", 10*time.Second, func() bool { s, _ := d.Box.Status(); return s.Online })

	rogue, err := mqttconn.New(mqttconn.Config{URL: broker.URL, ClientID: "rogue"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go rogue.Run(ctx)
	eventually(t, "rogue connected", 10*time.Second, rogue.Connected)

	other := newKey(t)
	sign := func(k ed25519.PrivateKey, r wire.Revocation) []byte {
		r.Key = ticket.KeyIDOf(k.Public().(ed25519.PublicKey)).String()
		r.Sig = ed25519.Sign(k, r.SignedBytes())
		b, err := wire.Encode(&r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	now := time.Now()
	unsigned, _ := wire.Encode(&wire.Revocation{Event: DemoEvent, Tickets: []string{"1"}, At: now, Expires: now.Add(time.Minute), Key: "abcd"})
	topic := wire.VenueTopic("acme-bank", "sh-pudong", wire.KindRevoke)
	for _, payload := range [][]byte{
		unsigned,
		sign(other, wire.Revocation{Event: DemoEvent, Tickets: []string{"2"}, At: now, Expires: now.Add(time.Minute)}),
		sign(priv, wire.Revocation{Event: DemoEvent, Tickets: []string{"3"}, At: now.Add(-time.Hour), Expires: now.Add(-time.Minute)}),
		[]byte(`{"v":1,"event":"` + DemoEvent + `","tickets":["4"]}`),
		sign(priv, wire.Revocation{Event: DemoEvent, Tickets: []string{"5"}, At: now, Expires: now.Add(time.Minute)}),
	} {
		if err := rogue.Publish(ctx, mqttconn.Message{Topic: topic, Payload: payload, QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the signed revocation is applied", 5*time.Second, func() bool {
		r, _ := d.Store.Revoked(DemoEvent, "5")
		return r
	})
	for _, id := range []string{"1", "2", "3", "4"} {
		if r, _ := d.Store.Revoked(DemoEvent, id); r {
			t.Errorf("ticket %s revoked by a revocation that must be refused", id)
		}
	}
}

// demoFiles writes a signing key pair and a signed manifest of n demo
// tickets (manifest.json) into a new folder, and returns the folder, the
// key and the tickets' codes.
func demoFiles(t *testing.T, n int) (dir string, priv ed25519.PrivateKey, codes []string) {
	t.Helper()
	dir = t.TempDir()
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
	return dir, priv, codes
}
