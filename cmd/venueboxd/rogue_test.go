package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"log/slog"
	"strings"
	"testing"
	"time"

	"venuebox/cmd/internal/box"
	"venuebox/cmd/internal/ticket"
	"venuebox/sync/mqttconn"
	"venuebox/sync/mqtttest"
	"venuebox/sync/wire"
)

// TestRogue_payloads is invariant 4 for the network on the real binaries:
// a rogue client on the broker publishes to the topics that a box and HQ
// read: malformed JSON, an unknown payload version, payloads over
// wire.MaxMessage, batches whose box is not the topic's, a bad topic,
// forged manifests (random bytes, a manifest signed by a key the box does
// not trust, a digest that does not match) and revocations that HQ did not
// sign (one for an event nobody has). Both daemons log each refusal, stay
// up and answer; the box's manifest, events and counts are untouched; a
// normal scan still goes up; HQ's attendance and fleet hold nothing of the
// rogue's.
func TestRogue_payloads(t *testing.T) {
	f := newFixture(t, 20, true)
	broker := mqtttest.Start(t, nil)
	hq := f.hq(broker.URL)
	g1 := f.box("gate-1", "demo-venue", broker.URL)
	eventually(t, "HQ sees gate-1 online", 30*time.Second, func() bool {
		var fleet []fleetRow
		getJSON(t, f.client, hq.api+"/api/boxes", &fleet)
		return len(fleet) == 1 && fleet[0].Online
	})
	before, err := f.status(g1)
	if err != nil {
		t.Fatal(err)
	}

	rogue, err := mqttconn.New(mqttconn.Config{URL: broker.URL, ClientID: "rogue"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rogueDone := make(chan struct{})
	go func() { rogue.Run(ctx); close(rogueDone) }()
	t.Cleanup(func() { cancel(); <-rogueDone })
	eventually(t, "rogue connected", 10*time.Second, rogue.Connected)

	const org, venue = "demo-bank", "demo-venue"
	boxTopic := func(b string, k wire.Kind) string { return wire.BoxTopic(org, venue, b, k) }
	encode := func(p wire.Payload) string {
		t.Helper()
		raw, err := wire.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	v2 := func(s string) string { return strings.Replace(s, `"v":1`, `"v":2`, 1) }
	huge := func(head string) string { return head + `"pad":"` + strings.Repeat("x", wire.MaxMessage) + `"}` }
	now := time.Now().UTC()
	checkIn := func(b string) wire.CheckIn {
		return wire.CheckIn{Nonce: "rogue-" + b, Box: b, Boot: 1, Seq: 1, Event: box.DemoEvent, Ticket: "2", Verdict: "admitted", Reason: "ok", At: now}
	}
	batch := func(b string) string {
		return encode(&wire.Batch{Box: b, Sent: now, CheckIns: []wire.CheckIn{checkIn(b)}})
	}

	// Forged manifests, as chunks the way HQ cuts them.
	_, other, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, foreign, err := box.DemoManifest(other, 20)
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 3000)
	rand.Read(junk) // crypto/rand.Read never fails
	chunks := func(version uint64, raw []byte, digest []byte) []string {
		t.Helper()
		cs, err := wire.Split(box.DemoEvent, version, 0, raw)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for i := range cs {
			if digest != nil {
				cs[i].SHA256 = digest
			}
			out = append(out, encode(&cs[i]))
		}
		return out
	}
	wrongDigest := sha256.Sum256([]byte("something else"))

	// Revocations HQ did not sign.
	revocation := func(event, ticketID string, key ed25519.PrivateKey) string {
		r := wire.Revocation{Event: event, Tickets: []string{ticketID}, At: now, Expires: now.Add(time.Hour), Key: "abcd"}
		if key != nil {
			r.Key = ticket.KeyIDOf(key.Public().(ed25519.PublicKey)).String()
			r.Sig = ed25519.Sign(key, r.SignedBytes())
		}
		return encode(&r)
	}

	type expect struct {
		who   *proc
		parts []string // every one on one log line
	}
	cases := []struct {
		name     string
		topic    string
		payloads []string
		want     []expect
	}{
		{"malformed batch", boxTopic("gate-9", wire.KindCheckins), []string{`{"v":1,"box":"gate-9","checkins":[`},
			[]expect{{hq, []string{`msg="batch refused"`, "invalid payload"}}, {g1, []string{`msg="peer batch refused"`, "invalid payload"}}}},
		{"batch of version 2", boxTopic("gate-9", wire.KindCheckins), []string{v2(batch("gate-9"))},
			[]expect{{hq, []string{`msg="batch refused"`, "unknown payload version"}}, {g1, []string{`msg="peer batch refused"`, "unknown payload version"}}}},
		{"oversized batch", boxTopic("gate-9", wire.KindCheckins), []string{huge(`{"v":1,"box":"gate-9","checkins":[],`)},
			[]expect{{hq, []string{`msg="batch refused"`, "payload too large"}}, {g1, []string{`msg="peer batch refused"`, "payload too large"}}}},
		{"batch of another box than the topic's", boxTopic("gate-9", wire.KindCheckins), []string{batch("gate-8")},
			[]expect{{hq, []string{`msg="batch refused: box differs from topic"`, "gate-9/checkins", "box=gate-8"}}, {g1, []string{`msg="peer batch refused"`, "gate-9/checkins", "names box"}}}},
		{"batch of another box on gate-1's own topic", boxTopic("gate-1", wire.KindCheckins), []string{batch("gate-8")},
			[]expect{{hq, []string{`msg="batch refused: box differs from topic"`, "gate-1/checkins", "box=gate-8"}}}},
		{"batch on a topic with a bad box id", "venuebox/" + org + "/" + venue + "/gate 9/checkins", []string{batch("gate-9")},
			[]expect{{hq, []string{`msg="batch on bad topic refused"`}}}},
		{"malformed state", boxTopic("gate-9", wire.KindState), []string{`{"v":1,"box":`},
			[]expect{{hq, []string{`msg="state refused"`, "gate-9/state", "invalid payload"}}}},
		{"state of another box", boxTopic("gate-9", wire.KindState), []string{encode(&wire.State{Box: "gate-8", Online: true, Session: 1, At: now})},
			[]expect{{hq, []string{`msg="state refused"`, "gate-9/state", "names box"}}}},
		{"manifest request of version 2", boxTopic("gate-9", wire.KindManifestReq), []string{v2(encode(&wire.ManifestRequest{Box: "gate-9"}))},
			[]expect{{hq, []string{`msg="manifest request refused"`, "unknown payload version"}}}},
		{"malformed ack", boxTopic("gate-1", wire.KindAck), []string{`[]`},
			[]expect{{g1, []string{`msg="ack refused"`, "invalid payload"}}}},
		{"ack for another box", boxTopic("gate-1", wire.KindAck), []string{encode(&wire.Ack{Box: "gate-2", Nonces: []string{"x"}})},
			[]expect{{g1, []string{`msg="ack refused"`, "names box"}}}},
		{"oversized ack", boxTopic("gate-1", wire.KindAck), []string{huge(`{"v":1,"box":"gate-1",`)},
			[]expect{{g1, []string{`msg="ack refused"`, "payload too large"}}}},
		{"malformed manifest chunk", boxTopic("gate-1", wire.KindManifest), []string{`{"v":1,"event":7}`},
			[]expect{{g1, []string{`msg="manifest chunk refused"`, "invalid payload"}}}},
		{"manifest chunk of version 2", boxTopic("gate-1", wire.KindManifest), []string{v2(chunks(6, junk, nil)[0])},
			[]expect{{g1, []string{`msg="manifest chunk refused"`, "unknown payload version"}}}},
		{"oversized manifest chunk", boxTopic("gate-1", wire.KindManifest), []string{huge(`{"v":1,"event":"` + box.DemoEvent + `",`)},
			[]expect{{g1, []string{`msg="manifest chunk refused"`, "payload too large"}}}},
		{"random bytes as a manifest", boxTopic("gate-1", wire.KindManifest), chunks(7, junk, nil),
			[]expect{{g1, []string{`msg="manifest refused"`, "version=7"}}}},
		{"manifest signed by another key", boxTopic("gate-1", wire.KindManifest), chunks(8, foreign, nil),
			[]expect{{g1, []string{`msg="manifest refused"`, "version=8"}}}},
		{"manifest whose digest does not match", boxTopic("gate-1", wire.KindManifest), chunks(9, foreign, wrongDigest[:]),
			[]expect{{g1, []string{`msg="manifest refused"`, "version=9", "digest mismatch"}}}},
		{"manifest signed by another key, to the venue", wire.VenueTopic(org, venue, wire.KindManifest), chunks(10, foreign, nil),
			[]expect{{g1, []string{`msg="manifest refused"`, "version=10"}}}},
		{"revocation for an unknown event, signed by another key", wire.VenueTopic(org, venue, wire.KindRevoke), []string{revocation("no-such-event", "1", other)},
			[]expect{{g1, []string{`msg="revocation refused: signature does not verify"`, "event=no-such-event", "key=" + ticket.KeyIDOf(other.Public().(ed25519.PublicKey)).String()}}}},
		{"unsigned revocation for an unknown event", wire.VenueTopic(org, venue, wire.KindRevoke), []string{revocation("no-such-event", "1", nil)},
			[]expect{{g1, []string{`msg="revocation refused: signature does not verify"`, "event=no-such-event", "key=abcd"}}}},
		{"revocation of ticket 1 signed by another key", wire.VenueTopic(org, venue, wire.KindRevoke), []string{revocation(box.DemoEvent, "1", other)},
			[]expect{{g1, []string{`msg="revocation refused: signature does not verify"`, "event=" + box.DemoEvent}}}},
		{"oversized revocation", wire.VenueTopic(org, venue, wire.KindRevoke), []string{huge(`{"v":1,"event":"no-such-event",`)},
			[]expect{{g1, []string{`msg="revocation refused"`, "payload too large"}}}},
	}
	for _, c := range cases {
		for _, p := range c.payloads {
			if err := rogue.Publish(ctx, mqttconn.Message{Topic: c.topic, Payload: []byte(p), QoS: 1}); err != nil {
				t.Fatalf("%s: publish: %v", c.name, err)
			}
		}
	}
	// Each refusal is logged, with its reason.
	for _, c := range cases {
		for _, w := range c.want {
			eventually(t, c.name+": "+w.who.name+" logs "+strings.Join(w.parts, " … "), 30*time.Second, func() bool {
				return logCount(w.who, w.parts...) > 0
			})
		}
	}

	// Both daemons are up and answer.
	for _, p := range []*proc{hq, g1} {
		if !p.running() {
			t.Fatalf("%s exited:\n%s", p.name, tail(p.log.String()))
		}
	}
	after, err := f.status(g1)
	if err != nil {
		t.Fatal(err)
	}
	if after.ManifestVersion != before.ManifestVersion || len(after.Events) != 1 || after.Manifests[box.DemoEvent] != before.Manifests[box.DemoEvent] ||
		after.Counts != before.Counts || after.Queued != 0 {
		t.Errorf("the rogue changed the box's state:\n before %+v\n after  %+v", before, after)
	}
	var fleet []fleetRow
	if err := fetchJSON(f.client, hq.api+"/api/boxes", &fleet); err != nil {
		t.Fatal(err)
	}
	if len(fleet) != 1 || fleet[0].Box != "gate-1" {
		t.Errorf("HQ's fleet after the rogue: %+v; want gate-1 alone", fleet)
	}

	// A normal scan still goes up: ticket 1, whose forged revocation was
	// refused, is admitted, and HQ holds it and nothing else.
	v, err := f.scan(g1, f.codes[0])
	if err != nil || v.Verdict != "admitted" || v.Reason != "ok" {
		t.Fatalf("scan after the rogue: %+v %v", v, err)
	}
	eventually(t, "gate-1's outbox empties", 30*time.Second, func() bool {
		s, err := f.status(g1)
		return err == nil && s.Queued == 0
	})
	var att []attendanceRow
	if err := fetchJSON(f.client, hq.api+"/api/events/"+box.DemoEvent+"/attendance", &att); err != nil {
		t.Fatal(err)
	}
	if len(att) != 1 || att[0].Nonce != v.Nonce || att[0].Box != "gate-1" {
		t.Errorf("HQ's attendance: %+v; want gate-1's admission %s alone", att, v.Nonce)
	}
	var cf []conflictRow
	if err := fetchJSON(f.client, hq.api+"/api/events/"+box.DemoEvent+"/conflicts", &cf); err != nil || len(cf) != 0 {
		t.Errorf("conflicts %+v %v", cf, err)
	}
	f.checkLogs()
	n := 0
	for _, c := range cases {
		n += len(c.payloads)
	}
	t.Logf("%d rogue messages in %d cases refused and logged; race-built daemons: %v", n, len(cases), f.race)
}
