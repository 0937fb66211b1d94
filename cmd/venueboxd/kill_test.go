package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"venuebox/cmd/internal/box"
	"venuebox/cmd/internal/ticket"
	"venuebox/sync/mqtttest"
)

// TestKill9_noAdmissionLostHQHoldsEachOnce is invariant 1 on the real
// binaries: scans go to venueboxd over its API while the box is killed with
// SIGKILL at random moments (and HQ once); every admission a scan was
// answered with is on the box after it restarts, and HQ ends holding each
// check-in the box recorded exactly once.
func TestKill9_noAdmissionLostHQHoldsEachOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills processes")
	}
	broker := mqtttest.Start(t, nil)
	boxd, hqd := buildBinaries(t)
	dir := t.TempDir()
	if _, err := ticket.GenerateKey(dir); err != nil {
		t.Fatal(err)
	}
	priv, err := ticket.LoadPrivateKey(filepath.Join(dir, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	codes, raw, err := box.DemoManifest(priv, 3000)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "manifest.json"), string(raw))
	writeFile(t, filepath.Join(dir, "token"), "kill-test-token-0123456789\n")
	hqPort, boxPort := mqtttest.FreePort(t), mqtttest.FreePort(t)
	writeFile(t, filepath.Join(dir, "hq.yaml"), fmt.Sprintf(
		"state_dir: hq\nhttp: {listen: 127.0.0.1:%d}\nmqtt: {url: %s}\nsigning_key: signing.key\ntoken_file: token\n", hqPort, broker.URL))
	writeFile(t, filepath.Join(dir, "box.yaml"), fmt.Sprintf(
		"box: {id: gate-1, venue: demo-venue, org: demo-bank}\nstate_dir: box\ntrust: [signing.pub]\nmanifest: manifest.json\n"+
			"http: {listen: 127.0.0.1:%d}\nmqtt: {url: %s}\n", boxPort, broker.URL))
	boxAPI, hqAPI := fmt.Sprintf("http://127.0.0.1:%d", boxPort), fmt.Sprintf("http://127.0.0.1:%d", hqPort)

	hq := &child{t: t, args: []string{hqd, "-config", filepath.Join(dir, "hq.yaml")}, log: new(logBuffer)}
	bx := &child{t: t, args: []string{boxd, "-config", filepath.Join(dir, "box.yaml")}, log: new(logBuffer)}
	hq.start()
	t.Cleanup(func() {
		bx.kill()
		hq.kill()
		if t.Failed() {
			t.Logf("box log:\n%s\nhq log:\n%s", tail(bx.log.String()), tail(hq.log.String()))
		}
	})

	client := &http.Client{Timeout: 2 * time.Second}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 3))
	admitted := map[string]string{} // nonce → ticket, as answered to the scanner
	next := 0
	for round := range 5 {
		bx.start()
		waitHTTP(t, client, boxAPI+"/api/status")
		if round == 2 {
			hq.kill() // HQ dies too; the box keeps deciding
		}
		if round == 3 {
			hq.start()
		}
		// Scan until the box dies under the scanner, killed at a random
		// moment while requests are in flight.
		proc := bx.cmd.Process
		killer := time.AfterFunc(time.Duration(150+rng.IntN(400))*time.Millisecond, func() { proc.Kill() })
		for next < len(codes) {
			resp, err := client.Post(boxAPI+"/api/scan", "application/json", strings.NewReader(`{"code":"`+codes[next]+`"}`))
			next++
			if err != nil {
				break
			}
			var v box.Verdict
			err = json.NewDecoder(resp.Body).Decode(&v)
			resp.Body.Close()
			if err == nil && v.Verdict == "admitted" {
				admitted[v.Nonce] = v.Ticket
			}
		}
		killer.Stop()
		bx.kill()
	}
	bx.start()
	waitHTTP(t, client, boxAPI+"/api/status")
	waitHTTP(t, client, hqAPI+"/api/boxes")
	if len(admitted) < 10 {
		t.Fatalf("only %d admissions answered", len(admitted))
	}

	var att []struct{ Nonce, Ticket, Verdict string }
	deadline := time.Now().Add(60 * time.Second)
	for {
		var st box.Status
		getJSON(t, client, boxAPI+"/api/status", &st)
		getJSON(t, client, hqAPI+"/api/events/"+box.DemoEvent+"/attendance", &att)
		if st.Queued == 0 && len(att) >= len(admitted) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("box queued %d, HQ holds %d of %d admissions", st.Queued, len(att), len(admitted))
		}
		time.Sleep(100 * time.Millisecond)
	}
	held := map[string]int{}
	perTicket := map[string]int{}
	for _, a := range att {
		held[a.Nonce]++
		if a.Verdict == "admitted" {
			perTicket[a.Ticket]++
		}
	}
	for nonce, tk := range admitted {
		if held[nonce] != 1 {
			t.Errorf("admission of ticket %s (%s) held %d times at HQ", tk, nonce, held[nonce])
		}
	}
	for tk, n := range perTicket {
		if n != 1 {
			t.Errorf("ticket %s admitted %d times", tk, n)
		}
	}
	t.Logf("%d admissions answered across 5 SIGKILLs of the box and one of HQ; HQ holds %d check-ins", len(admitted), len(att))
}
