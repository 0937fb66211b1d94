package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"venuebox/store/hqstore"
	"venuebox/sync/hqsync"
	"venuebox/sync/mqttconn"
	"venuebox/sync/mqtttest"
)

func TestLoadgen_usage(t *testing.T) {
	for _, args := range [][]string{{}, {"-broker", "tcp://127.0.0.1:1", "-rates", "10,x"}, {"-broker", "tcp://127.0.0.1:1", "-boxes", "0"},
		{"-broker", "tcp://127.0.0.1:1", "-batch", "501"}, {"-broker", "tcp://127.0.0.1:1", "extra"}} {
		var out, errb bytes.Buffer
		if code := run(append([]string{"loadgen"}, args...), &out, &errb); code != exitUsage || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("loadgen %v: exit %d, stderr %q; want 2 and one line", args, code, errb.String())
		}
	}
	var out bytes.Buffer
	if code := run([]string{"loadgen", "-h"}, &out, &out); code != exitOK || !strings.Contains(out.String(), "-outage-every") {
		t.Errorf("loadgen -h: exit %d, %q", code, out.String())
	}
}

// TestLoadgen_drainsThroughHQ plays 20 virtual boxes with outages and
// reboots against a real Mosquitto and HQ's sync on a bbolt store: every
// outbox drains, the report's numbering matches what HQ holds, and HQ
// holds each check-in once.
func TestLoadgen_drainsThroughHQ(t *testing.T) {
	broker := mqtttest.Start(t, nil)
	log := slog.New(slog.DiscardHandler)
	st, err := hqstore.Open(filepath.Join(t.TempDir(), "hq.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := hqsync.New(hqsync.Config{MQTT: mqttconn.Config{URL: broker.URL, ClientID: "hq"}, Group: "venuebox-hq"}, st, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(10 * time.Second); !h.Connected(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("HQ not connected")
		}
	}
	var out, errb bytes.Buffer
	code := run([]string{"loadgen", "-json", "-broker", broker.URL, "-boxes", "20", "-rates", "100,200", "-duration", "2s",
		"-backlog", "30", "-outage-every", "1500ms", "-outage-for", "300ms", "-reboot", "0.5", "-drain", "20s", "-resend", "1s"}, &out, &errb)
	var r loadReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("exit %d, report: %v\n%s", code, err, errb.String())
	}
	if code != exitOK || !r.Drained || r.Queued != 0 || r.Acked != r.Generated || r.Generated < 20*30+400 || len(r.Steps) != 2 {
		t.Fatalf("exit %d: %+v\n%s", code, r, errb.String())
	}
	if r.Outages == 0 || r.Reboots == 0 {
		t.Fatalf("no outage or reboot in the run: %+v", r)
	}
	n, err := st.Count()
	if err != nil || n != r.Generated {
		t.Fatalf("HQ holds %d check-ins (%v), the fleet made %d", n, err, r.Generated)
	}
	boxes, err := st.Boxes()
	if err != nil || len(boxes) != 20 {
		t.Fatalf("fleet %d, %v", len(boxes), err)
	}
	byName := map[string]hqstore.Box{}
	for _, b := range boxes {
		byName[b.Box] = b
	}
	for _, pb := range r.PerBox {
		b := byName[pb.Box]
		for boot, last := range pb.Boots {
			if b.Max[boot] != last || b.Contig[boot] != last {
				t.Errorf("%s boot %d: made up to %d, HQ holds up to %d, contiguous to %d", pb.Box, boot, last, b.Max[boot], b.Contig[boot])
			}
		}
		if b.Venue != pb.Venue || b.Org != "loadgen-bank" {
			t.Errorf("%s: HQ has it at %s/%s, want loadgen-bank/%s", pb.Box, b.Org, b.Venue, pb.Venue)
		}
	}
	t.Logf("%d check-ins, %d sent again, %d outages, %d reboots; steps %+v", r.Generated, r.Resent, r.Outages, r.Reboots, r.Steps)
}
