package mqttconn

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"venuebox/sync/mqtttest"
	"venuebox/sync/wire"
)

// The tests in this file run a real Mosquitto with what scripts/provision
// makes (a TLS listener that requires a client certificate, the CN as the
// username, the ACL) and real paho clients through Conn.

const (
	tlsOrg = "acme"
	// quietFor is how long a message that the broker should have dropped
	// is waited for, after a later message on the same path has arrived.
	quietFor = 300 * time.Millisecond
)

// inbox records the messages of one connection's subscriptions.
type inbox struct {
	mu   sync.Mutex
	msgs []Message
}

func (in *inbox) add(m Message) {
	in.mu.Lock()
	in.msgs = append(in.msgs, m)
	in.mu.Unlock()
}

// count returns how many messages came on topic with payload.
func (in *inbox) count(topic, payload string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := 0
	for _, m := range in.msgs {
		if m.Topic == topic && string(m.Payload) == payload {
			n++
		}
	}
	return n
}

func (in *inbox) has(topic, payload string) bool { return in.count(topic, payload) > 0 }

func (in *inbox) wait(t *testing.T, topic, payload string) {
	t.Helper()
	waitFor(t, topic+" "+payload, func() bool { return in.has(topic, payload) })
}

// payloads returns every payload received, in order of arrival.
func (in *inbox) payloads() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	var p []string
	for _, m := range in.msgs {
		p = append(p, string(m.Payload))
	}
	return p
}

// certClient is a Conn that authenticates with a certificate that
// scripts/provision wrote to certDir: who is "hq/ID" or "box/VENUE/BOX", or
// "" for no certificate. It trusts caDir's CA.
type certClient struct {
	url, caDir, certDir, who, id string
}

func (c certClient) config() Config {
	cfg := Config{URL: c.url, ClientID: c.id, CAFile: filepath.Join(c.caDir, "ca.crt"),
		ConnectTimeout: 3 * time.Second, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	if c.who != "" {
		cfg.CertFile = filepath.Join(c.certDir, c.who+".crt")
		cfg.KeyFile = filepath.Join(c.certDir, c.who+".key")
	}
	return cfg
}

// connect subscribes the filters (each into in), runs the Conn until the
// test ends and waits until it is connected and subscribed.
func (c certClient) connect(t *testing.T, in *inbox, filters ...string) *Conn {
	t.Helper()
	up := make(chan struct{}, 1)
	cfg := c.config()
	cfg.OnConnect = func() {
		select {
		case up <- struct{}{}:
		default:
		}
	}
	cfg.OnConnectFailed = func(err error) { t.Logf("%s: connect failed: %v", c.id, err) }
	conn := runConn(t, cfg)
	for _, f := range filters {
		if err := conn.Subscribe(f, 1, in.add); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-up:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not connected after 10 s", c.id)
	}
	return conn
}

// refused runs the Conn and returns the error of its first connection
// attempt, failing the test if that attempt connects.
func (c certClient) refused(t *testing.T) error {
	t.Helper()
	failed := make(chan error, 1)
	cfg := c.config()
	cfg.OnConnect = func() { t.Errorf("%s: connected, want refused", c.id) }
	cfg.OnConnectFailed = func(err error) {
		select {
		case failed <- err:
		default:
		}
	}
	runConn(t, cfg)
	select {
	case err := <-failed:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no failed connection attempt after 10 s", c.id)
		return nil
	}
}

// runConn is start without connecting before the caller has subscribed.
func runConn(t *testing.T, cfg Config) *Conn {
	t.Helper()
	conn, err := New(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- conn.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return conn
}

func publishOK(t *testing.T, c *Conn, topic, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// A publish the ACL forbids is acknowledged too (MQTT 3.1.1 has no way
	// to refuse one), so every publish here must succeed.
	if err := c.Publish(ctx, Message{Topic: topic, Payload: []byte(payload), QoS: 1}); err != nil {
		t.Fatal(err)
	}
}

// TestTLS_provisionedBroker checks scripts/provision's certificates and ACL on
// a real broker: who gets in, what a box may publish, what it receives.
func TestTLS_provisionedBroker(t *testing.T) {
	// Two venues, each with a gate-1: the box's identity must carry its venue.
	dir := mqtttest.Provision(t, "-org", tlsOrg, "-hq", "hq-1",
		"-box", "sh-pudong/gate-1", "-box", "sh-pudong/gate-2", "-box", "bj-chaoyang/gate-1")
	b := mqtttest.StartTLS(t, dir, nil)
	as := func(who, id string) certClient {
		return certClient{url: b.URL, caDir: dir, certDir: dir, who: who, id: id}
	}
	box := func(venue, name string, k wire.Kind) string { return wire.BoxTopic(tlsOrg, venue, name, k) }
	venue := func(v string, k wire.Kind) string { return wire.VenueTopic(tlsOrg, v, k) }

	// HQ as hqsync subscribes: a shared group for check-ins and manifest
	// requests, every box's state. The ACL gives HQ venuebox/# and nothing
	// for $share/..., so the shared subscriptions working shows that the ACL
	// is applied to the message's topic, not to the $share/ filter.
	var ingest, spy inbox
	as("hq/hq-1", "hq-ingest").connect(t, &ingest,
		wire.Shared("hq", wire.AllBoxesFilter(wire.KindCheckins)),
		wire.Shared("hq", wire.AllBoxesFilter(wire.KindManifestReq)),
		wire.AllBoxesFilter(wire.KindState))
	// spy sees every message the broker accepted into venuebox/.
	hq := as("hq/hq-1", "hq-spy").connect(t, &spy, "venuebox/#")

	// gate1 subscribes to exactly what boxsync subscribes to.
	var gate1In, gate2In, nosyIn inbox
	gate1 := as("box/sh-pudong/gate-1", "sh-pudong.gate-1").connect(t, &gate1In,
		box("sh-pudong", "gate-1", wire.KindAck),
		wire.VenueBoxesFilter(tlsOrg, "sh-pudong", wire.KindCheckins),
		box("sh-pudong", "gate-1", wire.KindManifest),
		venue("sh-pudong", wire.KindManifest),
		venue("sh-pudong", wire.KindRevoke))
	gate2 := as("box/sh-pudong/gate-2", "sh-pudong.gate-2").connect(t, &gate2In,
		wire.VenueBoxesFilter(tlsOrg, "sh-pudong", wire.KindCheckins))
	// nosy is gate-1's certificate asking for everything. The broker grants
	// the subscription (Mosquitto's ACL file never refuses a SUBSCRIBE; connect
	// fails if a SUBACK refuses) and filters what it delivers.
	as("box/sh-pudong/gate-1", "sh-pudong.gate-1.nosy").connect(t, &nosyIn, "#")

	t.Run("box publishes its own topics", func(t *testing.T) {
		publishOK(t, gate1, box("sh-pudong", "gate-1", wire.KindCheckins), "a-checkins")
		publishOK(t, gate1, box("sh-pudong", "gate-1", wire.KindManifestReq), "a-manifest-req")
		publishOK(t, gate1, box("sh-pudong", "gate-1", wire.KindState), "a-state")
		ingest.wait(t, box("sh-pudong", "gate-1", wire.KindCheckins), "a-checkins")
		ingest.wait(t, box("sh-pudong", "gate-1", wire.KindManifestReq), "a-manifest-req")
		ingest.wait(t, box("sh-pudong", "gate-1", wire.KindState), "a-state")
		// and the venue's other gate gets the check-ins (peers' admissions).
		gate2In.wait(t, box("sh-pudong", "gate-1", wire.KindCheckins), "a-checkins")
	})

	t.Run("box cannot publish as another box or as HQ", func(t *testing.T) {
		forged := []string{
			box("sh-pudong", "gate-2", wire.KindCheckins),                        // another gate at its venue
			box("bj-chaoyang", "gate-1", wire.KindCheckins),                      // its namesake at another venue
			wire.BoxTopic("other-org", "sh-pudong", "gate-1", wire.KindCheckins), // another org
			box("sh-pudong", "gate-2", wire.KindState),                           // another gate's state
			box("sh-pudong", "gate-1", wire.KindAck),                             // HQ's ack to itself
			box("sh-pudong", "gate-1", wire.KindManifest),                        // HQ's manifest to itself
			venue("sh-pudong", wire.KindManifest),                                // HQ's manifest to the venue
			venue("sh-pudong", wire.KindRevoke),                                  // HQ's revocation
		}
		for _, topic := range forged {
			publishOK(t, gate1, topic, "b-forged")
		}
		// The control goes the same way after the forged ones: once it has
		// arrived, a forged message the broker had let through would have too.
		control := box("sh-pudong", "gate-1", wire.KindCheckins)
		publishOK(t, gate1, control, "b-control")
		spy.wait(t, control, "b-control")
		ingest.wait(t, control, "b-control")
		time.Sleep(quietFor)
		for _, topic := range forged {
			if spy.has(topic, "b-forged") || ingest.has(topic, "b-forged") || gate2In.has(topic, "b-forged") {
				t.Errorf("gate-1's publish to %s was delivered", topic)
			}
		}
	})

	t.Run("box receives what boxsync subscribes to", func(t *testing.T) {
		own := []string{
			box("sh-pudong", "gate-1", wire.KindAck),
			box("sh-pudong", "gate-1", wire.KindManifest),
			venue("sh-pudong", wire.KindManifest),
			venue("sh-pudong", wire.KindRevoke),
		}
		for _, topic := range own {
			publishOK(t, hq, topic, "f-hq")
		}
		publishOK(t, gate2, box("sh-pudong", "gate-2", wire.KindCheckins), "f-peer")
		for _, topic := range own {
			gate1In.wait(t, topic, "f-hq")
		}
		gate1In.wait(t, box("sh-pudong", "gate-2", wire.KindCheckins), "f-peer")
	})

	t.Run("box cannot read other venues or other boxes", func(t *testing.T) {
		hidden := []string{
			venue("bj-chaoyang", wire.KindRevoke),
			venue("bj-chaoyang", wire.KindManifest),
			box("bj-chaoyang", "gate-1", wire.KindAck),
			box("bj-chaoyang", "gate-1", wire.KindCheckins),
			box("sh-pudong", "gate-2", wire.KindAck),
			box("sh-pudong", "gate-2", wire.KindManifest),
			box("sh-pudong", "gate-2", wire.KindState),
			wire.VenueTopic("other-org", "sh-pudong", wire.KindRevoke),
		}
		for _, topic := range hidden {
			publishOK(t, hq, topic, "c-hidden")
		}
		control := venue("sh-pudong", wire.KindRevoke)
		publishOK(t, hq, control, "c-control")
		nosyIn.wait(t, control, "c-control")
		gate1In.wait(t, control, "c-control")
		time.Sleep(quietFor)
		for _, topic := range hidden {
			if !spy.has(topic, "c-hidden") {
				t.Errorf("HQ's publish to %s did not reach HQ's own subscriber", topic)
			}
			if nosyIn.has(topic, "c-hidden") || gate1In.has(topic, "c-hidden") {
				t.Errorf("gate-1 received %s", topic)
			}
		}
		if t.Failed() {
			t.Logf("nosy got %q", nosyIn.payloads())
		}
	})

	t.Run("HQ shares check-ins in a $share group", func(t *testing.T) {
		// Two more members of one group: each check-in goes to one of them.
		var m1, m2 inbox
		filter := wire.Shared("ingest-e", wire.AllBoxesFilter(wire.KindCheckins))
		as("hq/hq-1", "hq-e1").connect(t, &m1, filter)
		as("hq/hq-1", "hq-e2").connect(t, &m2, filter)
		topic := box("sh-pudong", "gate-2", wire.KindCheckins)
		want := []string{"e-1", "e-2", "e-3", "e-4"}
		for _, p := range want {
			publishOK(t, gate2, topic, p)
		}
		control := "e-control"
		publishOK(t, gate2, topic, control)
		spy.wait(t, topic, control)
		waitFor(t, "e-control in the group", func() bool { return m1.has(topic, control) || m2.has(topic, control) })
		time.Sleep(quietFor)
		got := append(m1.payloads(), m2.payloads()...)
		slices.Sort(got)
		if want := append(want, control); !slices.Equal(got, want) {
			t.Errorf("the group got %q, want each of %q once", got, want)
		}
		if len(m1.payloads()) == 0 || len(m2.payloads()) == 0 {
			t.Errorf("one member got nothing: %q and %q", m1.payloads(), m2.payloads())
		}
	})

	t.Run("known gap: a box in HQ's $share group diverts HQ's messages", func(t *testing.T) {
		// Mosquitto 2.0's ACL file cannot refuse a subscription, and a shared
		// group hands each message to its next member, dropping it if that
		// member may not read it. So a box's certificate that joins HQ's group
		// makes HQ miss a share of every venue's check-ins (the boxes resend
		// what HQ does not acknowledge, so they come late, not never), while
		// the box still reads nothing beyond its venue. This pins that
		// behaviour: if it fails, the broker has closed the gap, and
		// scripts/provision's header should say so.
		var hqIn, thiefIn inbox
		filter := wire.Shared("hq-gap", wire.AllBoxesFilter(wire.KindCheckins))
		as("hq/hq-1", "hq-gap").connect(t, &hqIn, filter)
		as("box/sh-pudong/gate-1", "sh-pudong.gate-1.thief").connect(t, &thiefIn, filter)
		bj := as("box/bj-chaoyang/gate-1", "bj-chaoyang.gate-1").connect(t, &inbox{})
		topic := box("bj-chaoyang", "gate-1", wire.KindCheckins)
		const n = 4
		for i := range n {
			publishOK(t, bj, topic, fmt.Sprintf("g-%d", i))
		}
		spy.wait(t, topic, fmt.Sprintf("g-%d", n-1))
		time.Sleep(quietFor)
		got := len(hqIn.payloads())
		if got == 0 || got == n {
			t.Errorf("HQ's member got %d of %d check-ins (%q), want some but not all", got, n, hqIn.payloads())
		}
		if len(thiefIn.payloads()) != 0 {
			t.Errorf("the box read another venue's check-ins: %q", thiefIn.payloads())
		}
		t.Logf("HQ got %q of %d; the box got none", hqIn.payloads(), n)
	})

	t.Run("only certificates from the CA get in", func(t *testing.T) {
		// other has the same org, HQ and box names, from another CA.
		other := mqtttest.Provision(t, "-org", tlsOrg, "-hq", "hq-1", "-box", "sh-pudong/gate-1")
		for _, c := range []struct {
			name string
			cl   certClient
		}{
			{"no certificate", certClient{url: b.URL, caDir: dir, id: "d-none"}},
			{"box certificate from another CA", certClient{url: b.URL, caDir: dir, certDir: other, who: "box/sh-pudong/gate-1", id: "d-box"}},
			{"HQ certificate from another CA", certClient{url: b.URL, caDir: dir, certDir: other, who: "hq/hq-1", id: "d-hq"}},
			// and the client refuses a broker its CA did not certify.
			{"broker not certified by the client's CA", certClient{url: b.URL, caDir: other, certDir: dir, who: "box/sh-pudong/gate-1", id: "d-broker"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				err := c.cl.refused(t)
				t.Logf("refused: %v", err)
			})
		}
	})
}
