package hq

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"venuebox/cmd/internal/box"
	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/ticket"
	"venuebox/sync/mqtttest"
)

const testToken = "0123456789abcdef-test-token"

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func eventually(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("%s: not within %v", what, within)
}

func run(t *testing.T, name string, r interface{ Run(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", name, err)
		}
	})
}

// TestHQ_manifestDownCheckinsUpRevocation runs HQ and a box on a real
// Mosquitto: a manifest uploaded to HQ reaches a box that has none, the
// box's check-ins reach HQ's attendance (JSON and CSV) and the fleet, and
// a revocation at HQ is rejected at the box (the time it took is logged:
// milliseconds here; the deadline only guards against a hang).
func TestHQ_manifestDownCheckinsUpRevocation(t *testing.T) {
	broker := mqtttest.Start(t, nil)
	dir := t.TempDir()
	if _, err := ticket.GenerateKey(dir); err != nil {
		t.Fatal(err)
	}
	priv, err := ticket.LoadPrivateKey(filepath.Join(dir, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	codes, raw, err := box.DemoManifest(priv, 30)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := Start(&config.HQ{StateDir: filepath.Join(dir, "hq"), HTTP: config.HTTP{Listen: "127.0.0.1:0"},
		MQTT: config.MQTT{URL: broker.URL}, SigningKey: filepath.Join(dir, "signing.key"),
		TokenFile: filepath.Join(dir, "token"), Store: config.Store{Driver: config.StoreBbolt}}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	run(t, "hq", h)
	api := "http://" + h.Addr.String()

	post := func(path, token, body string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", api+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/api/manifests", "", string(raw)); code != http.StatusUnauthorized {
		t.Fatalf("manifest without the token: %d", code)
	}
	if code := post("/api/manifests", "wrong-token-wrong-token", string(raw)); code != http.StatusUnauthorized {
		t.Fatalf("manifest with a wrong token: %d", code)
	}
	if code := post("/api/manifests", testToken, strings.Replace(string(raw), "Wealth", "Wea1th", 1)); code != http.StatusBadRequest {
		t.Fatalf("altered manifest: %d", code)
	}
	if code := post("/api/manifests", testToken, string(raw)); code != http.StatusOK {
		t.Fatalf("manifest: %d", code)
	}

	d, err := box.Start(&config.Box{
		Box:      config.Identity{ID: "gate-1", Venue: "demo-venue", Org: "demo-bank"},
		StateDir: filepath.Join(dir, "box"), Trust: []string{filepath.Join(dir, "signing.pub")},
		HTTP: config.HTTP{Listen: "127.0.0.1:0"}, MQTT: config.MQTT{URL: broker.URL},
		Policy: config.Policy{DoubleScanWindow: 3 * time.Second, FeverC: 37.3, ClockSkew: 5 * time.Minute},
	}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	run(t, "box", d)
	eventually(t, "the box fetches the manifest", 10*time.Second, func() bool {
		s, _ := d.Box.Status()
		return s.ManifestVersion == 1
	})
	ctx := context.Background()
	for _, c := range codes[:5] {
		if v, err := d.Box.Present(ctx, box.Code, c); err != nil || v.Verdict != "admitted" {
			t.Fatalf("scan: %+v %v", v, err)
		}
	}
	d.Box.Present(ctx, box.Code, "FORGED-123")

	get := func(path string, v any) {
		t.Helper()
		resp, err := http.Get(api + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	var att []Attendance
	eventually(t, "HQ holds the six check-ins", 10*time.Second, func() bool {
		get("/api/events/"+box.DemoEvent+"/attendance", &att)
		return len(att) == 5 // the forged code matched no event
	})
	for _, a := range att {
		if a.Box != "gate-1" || a.Verdict != "admitted" || a.Reason != "ok" || a.Time.IsZero() {
			t.Fatalf("attendance row %+v", a)
		}
	}
	resp, err := http.Get(api + "/api/events/" + box.DemoEvent + "/attendance?format=csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || len(rows) != 6 || rows[0][0] != "ticket" {
		t.Fatalf("csv %v %v", rows, err)
	}
	var boxes []BoxStatus
	eventually(t, "the fleet shows the box", 15*time.Second, func() bool {
		get("/api/boxes", &boxes)
		return len(boxes) == 1 && boxes[0].Online && boxes[0].Venue == "demo-venue"
	})
	eventually(t, "the outbox empties", 10*time.Second, func() bool {
		q, _ := d.Store.Queued()
		return q == 0
	})

	if code := post("/api/events/"+box.DemoEvent+"/revoke", "", `{"tickets":["20"]}`); code != http.StatusUnauthorized {
		t.Fatalf("revoke without the token: %d", code)
	}
	revokedAt := time.Now()
	if code := post("/api/events/"+box.DemoEvent+"/revoke", testToken, `{"tickets":["20"]}`); code != http.StatusOK {
		t.Fatalf("revoke: %d", code)
	}
	eventually(t, "the box holds the revocation", 10*time.Second, func() bool {
		revoked, err := d.Store.Revoked(box.DemoEvent, "20")
		return err == nil && revoked
	})
	t.Logf("revoked at HQ, held by the box after %v", time.Since(revokedAt).Round(time.Millisecond))
	if v, err := d.Box.Present(ctx, box.Code, codes[19]); err != nil || v.Reason != "revoked" {
		t.Fatalf("revoked ticket: %+v %v", v, err)
	}
	// The revocation is also the event's next manifest version: the box
	// gets it as a delta, and a box that comes later gets the snapshot.
	eventually(t, "the box applies the revocation's delta", 10*time.Second, func() bool {
		s, _ := d.Box.Status()
		return s.ManifestVersion == 2
	})
	late, err := box.Start(&config.Box{
		Box:      config.Identity{ID: "gate-2", Venue: "demo-venue", Org: "demo-bank"},
		StateDir: filepath.Join(dir, "box2"), Trust: []string{filepath.Join(dir, "signing.pub")},
		HTTP: config.HTTP{Listen: "127.0.0.1:0"}, MQTT: config.MQTT{URL: broker.URL},
		Policy: config.Policy{DoubleScanWindow: 3 * time.Second, FeverC: 37.3, ClockSkew: 5 * time.Minute},
	}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	run(t, "late box", late)
	eventually(t, "the late box fetches version 2", 10*time.Second, func() bool {
		s, _ := late.Box.Status()
		return s.ManifestVersion == 2
	})
	if r, _ := late.Store.Revoked(box.DemoEvent, "20"); !r {
		t.Fatal("the late box does not hold the revocation")
	}
	var cf []json.RawMessage
	get("/api/events/"+box.DemoEvent+"/conflicts", &cf)
	if len(cf) != 0 {
		t.Fatalf("conflicts %s", cf)
	}
}
