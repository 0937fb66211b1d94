package main

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"venuebox/cmd/internal/box"
	"venuebox/cmd/internal/manifest"
	"venuebox/cmd/internal/ticket"
	"venuebox/sync/mqttconn"
	"venuebox/sync/mqtttest"
)

// TestVenueBroker_bridged runs the venue-broker layout of sync/PROTOCOL.md:
// the gates of a venue on a Mosquitto of their own, bridged to HQ's broker
// (venuebox/# both ways, QoS 1, persistent bridge session), HQ on its own
// broker. While the bridge is up, check-ins go up through it to HQ's
// shared subscription and HQ's acks come back through it; the boxes'
// retained states reach HQ's fleet view; a manifest HQ pushes reaches the
// gates. With HQ's broker stopped, the gates stay in step over the venue
// broker: a code admitted at gate 1 is already-used at gate 2. When HQ's
// broker returns, HQ ends holding both verdicts and the outboxes drain. A
// check-in batch crosses the venue broker once: the bridge sends nothing
// back.
func TestVenueBroker_bridged(t *testing.T) {
	f := newFixture(t, 50, true)
	hqBroker := mqtttest.Start(t, &mqtttest.Options{Persistence: true})
	venueBroker := mqtttest.Start(t, &mqtttest.Options{Persistence: true, Config: fmt.Sprintf(
		"log_type debug\n"+
			"connection hq\naddress 127.0.0.1:%d\ntopic venuebox/# both 1\ncleansession false\n"+
			"remote_clientid bridge-venue-a\nbridge_protocol_version mqttv311\nrestart_timeout 1\nnotifications false\n",
		hqBroker.Port)})

	// Observe every check-in batch on the venue broker and every ack on
	// HQ's, to count copies: a bridge that echoed would show twice.
	batches := newObserver(t, venueBroker.URL, "observer-venue", "venuebox/+/+/+/checkins")
	acks := newObserver(t, hqBroker.URL, "observer-hq", "venuebox/+/+/+/ack")

	hq := f.hq(hqBroker.URL)
	g1 := f.box("gate-1", "demo-venue", venueBroker.URL)
	g2 := f.box("gate-2", "demo-venue", venueBroker.URL)

	// The boxes' retained birth messages cross the bridge.
	eventually(t, "HQ sees both gates online at demo-venue through the bridge", 30*time.Second, func() bool {
		var fleet []fleetRow
		getJSON(t, f.client, hq.api+"/api/boxes", &fleet)
		n := 0
		for _, b := range fleet {
			if b.Online && b.Venue == "demo-venue" {
				n++
			}
		}
		return n == 2
	})

	// Up: a check-in reaches HQ through the bridge and HQ's shared
	// subscription, and HQ's ack comes back: the outbox empties.
	v, err := f.scan(g1, f.codes[0])
	if err != nil || v.Verdict != "admitted" {
		t.Fatalf("gate-1: %+v %v", v, err)
	}
	drained := func(ps ...*proc) func() bool {
		return func() bool {
			for _, p := range ps {
				if s, err := f.status(p); err != nil || s.Queued != 0 {
					return false
				}
			}
			return true
		}
	}
	eventually(t, "gate-1's outbox empties: HQ's ack crossed the bridge", 30*time.Second, drained(g1))
	first := v.Nonce

	// A manifest HQ pushes crosses the bridge to the venue's gates.
	v2 := resign(t, f.priv, f.manifest, 2)
	req, _ := http.NewRequest("POST", hq.api+"/api/manifests", bytes.NewReader(v2)) // a fixed URL and a body: cannot fail
	req.Header.Set("Authorization", "Bearer "+f.hqToken)
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/manifests: %s: %s", resp.Status, body)
	}
	eventually(t, "both gates apply the manifest HQ pushed through the bridge", 30*time.Second, func() bool {
		for _, p := range []*proc{g1, g2} {
			if s, err := f.status(p); err != nil || s.Manifests[box.DemoEvent] != 2 {
				return false
			}
		}
		return true
	})

	// HQ's broker goes away; the venue's LAN stays up.
	hqBroker.Stop()
	code := f.codes[1]
	mark := len(venueBroker.Log())
	a, err := f.scan(g1, code)
	if err != nil || a.Verdict != "admitted" || a.Reason != "ok" {
		t.Fatalf("gate-1 with HQ's broker down: %+v %v", a, err)
	}
	waitPeerApplied(t, venueBroker, mark, "gate-1", "gate-2")
	r, err := f.scan(g2, code)
	if err != nil || r.Verdict != "rejected" || r.Reason != "already-used" || r.PriorGate != "gate-1" || r.Nonce == "" {
		t.Fatalf("gate-2 with HQ's broker down, after gate-1 admitted the code: %+v %v; want rejected already-used at gate-1", r, err)
	}
	for _, p := range []*proc{g1, g2} {
		if s, err := f.status(p); err != nil || s.Queued != 1 {
			t.Fatalf("%s with HQ's broker down: %+v %v; want one check-in queued", p.name, s, err)
		}
	}

	// HQ's broker comes back: the bridge reconnects and HQ gets both.
	hqBroker.Start()
	eventually(t, "both outboxes drain once HQ's broker is back", 60*time.Second, drained(g1, g2))
	var att []attendanceRow
	if err := fetchJSON(f.client, hq.api+"/api/events/"+box.DemoEvent+"/attendance", &att); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{first: "gate-1 admitted ok", a.Nonce: "gate-1 admitted ok", r.Nonce: "gate-2 rejected already-used"}
	got := map[string]string{}
	for _, row := range att {
		if _, dup := got[row.Nonce]; dup {
			t.Errorf("HQ lists check-in %s twice", row.Nonce)
		}
		got[row.Nonce] = row.Box + " " + row.Verdict + " " + row.Reason
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("HQ's attendance:\n got  %v\n want %v", got, want)
	}
	var cf []conflictRow
	if err := fetchJSON(f.client, hq.api+"/api/events/"+box.DemoEvent+"/conflicts", &cf); err != nil || len(cf) != 0 {
		t.Errorf("conflicts %+v %v: gate 2 refused the code, so none", cf, err)
	}

	// No batch crossed the venue broker twice, and no ack HQ's broker: the
	// bridge does not echo what it forwarded back to where it came from.
	bCopies, bN := batches.maxCopies()
	if bCopies != 1 {
		t.Errorf("a check-in batch crossed the venue broker %d times (of %d batches)", bCopies, bN)
	}
	aCopies, aN := acks.maxCopies()
	if aCopies != 1 {
		t.Errorf("an ack crossed HQ's broker %d times (of %d acks)", aCopies, aN)
	}
	f.checkLogs()
	t.Logf("%d check-in batches seen on the venue broker and %d acks on HQ's, each once; race-built daemons: %v", bN, aN, f.race)
}

// waitPeerApplied waits until the venue broker's debug log, past mark,
// shows a batch from gate `from` delivered to gate `to` and acknowledged
// by it. paho acknowledges a QoS 1 message when its handler returns, and
// the box's handler records the peer's admissions first: after the PUBACK
// the other gate knows.
func waitPeerApplied(t *testing.T, b *mqtttest.Broker, mark int, from, to string) {
	t.Helper()
	// A box's client id is its org/venue/box.
	send := regexp.MustCompile(`Sending PUBLISH to ((?:\S*/)?` + regexp.QuoteMeta(to) + `) \(d\d, q1, r\d, m(\d+), 'venuebox/[^/]+/[^/]+/` + regexp.QuoteMeta(from) + `/checkins'`)
	eventually(t, to+" acknowledges "+from+"'s batch", 30*time.Second, func() bool {
		log := b.Log()[mark:]
		for _, m := range send.FindAllStringSubmatchIndex(log, -1) {
			client, mid := log[m[2]:m[3]], log[m[4]:m[5]]
			if strings.Contains(log[m[1]:], "Received PUBACK from "+client+" (Mid: "+mid+",") {
				return true
			}
		}
		return false
	})
}

// resign returns the signed manifest raw as a new snapshot version.
func resign(t *testing.T, priv ed25519.PrivateKey, raw []byte, version uint64) []byte {
	t.Helper()
	m, err := manifest.Parse(raw, ticket.NewKeyring(priv.Public().(ed25519.PublicKey)))
	if err != nil {
		t.Fatal(err)
	}
	m.Version, m.IssuedAt = version, time.Now().UTC()
	out, err := manifest.Sign(priv, m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// observer is an MQTT client that counts the copies of each payload it
// receives on a filter.
type observer struct {
	mu     sync.Mutex
	copies map[string]int
}

func newObserver(t *testing.T, url, id, filter string) *observer {
	t.Helper()
	o := &observer{copies: map[string]int{}}
	subscribe(t, url, id, filter, func(m mqttconn.Message) {
		o.mu.Lock()
		o.copies[string(m.Payload)]++
		o.mu.Unlock()
	})
	return o
}

// maxCopies returns the most copies of one payload and how many payloads.
func (o *observer) maxCopies() (most, payloads int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, n := range o.copies {
		most = max(most, n)
	}
	return most, len(o.copies)
}
