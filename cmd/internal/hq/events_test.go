package hq

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"venuebox/cmd/internal/box"
	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/ticket"
	"venuebox/sync/mqtttest"
)

// desk is an HQ on a real Mosquitto, driven over its HTTP API.
type desk struct {
	t      *testing.T
	dir    string
	broker *mqtttest.Broker
	hq     *HQ
	api    string
}

func newDesk(t *testing.T) *desk {
	t.Helper()
	d := &desk{t: t, dir: t.TempDir(), broker: mqtttest.Start(t, nil)}
	if _, err := ticket.GenerateKey(d.dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.dir, "token"), []byte(testToken), 0o600); err != nil {
		t.Fatal(err)
	}
	var err error
	d.hq, err = Start(&config.HQ{StateDir: filepath.Join(d.dir, "hq"), HTTP: config.HTTP{Listen: "127.0.0.1:0"},
		MQTT: config.MQTT{URL: d.broker.URL}, SigningKey: filepath.Join(d.dir, "signing.key"),
		TokenFile: filepath.Join(d.dir, "token"), Store: config.Store{Driver: config.StoreBbolt}}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	run(t, "hq", d.hq)
	d.api = "http://" + d.hq.Addr.String()
	return d
}

// do sends a request with the token (or none when token is "") and
// decodes a JSON answer into out; it returns the status.
func (d *desk) do(method, path, token, ctype string, body []byte, out any) int {
	d.t.Helper()
	req, _ := http.NewRequest(method, d.api+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			d.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	if resp.StatusCode >= 300 {
		d.t.Logf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(raw))
	}
	return resp.StatusCode
}

func (d *desk) get(path string) []byte {
	d.t.Helper()
	req, _ := http.NewRequest("GET", d.api+path, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		d.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, raw)
	}
	return raw
}

// startBox runs a box of the desk's venue with no manifest of its own.
func (d *desk) startBox(id string) *box.Daemon {
	d.t.Helper()
	bx, err := box.Start(&config.Box{
		Box:      config.Identity{ID: id, Venue: "sh-pudong", Org: "acme-bank"},
		StateDir: filepath.Join(d.dir, id), Trust: []string{filepath.Join(d.dir, "signing.pub")},
		HTTP: config.HTTP{Listen: "127.0.0.1:0"}, MQTT: config.MQTT{URL: d.broker.URL},
		Policy: config.Policy{DoubleScanWindow: 50 * time.Millisecond, FeverC: 37.3, ClockSkew: 5 * time.Minute},
	}, quiet())
	if err != nil {
		d.t.Fatal(err)
	}
	run(d.t, id, bx)
	return bx
}

const briefing = `{"id":"briefing-1205","name":"财富管理客户答谢会","venue":"sh-pudong",
 "start":"2026-01-02T08:00:00+08:00","end":"2027-12-31T23:00:00+08:00","zones":["main","vip-lounge"],
 "classes":[{"name":"standard"},{"name":"vip","benefit":"积分","points":200}],"vip_levels":["gold","platinum"]}`

// TestEventDesk_createImportIssueRevokeRotate runs the event desk over
// HTTP against a box: an event is created, a GBK attendee CSV imported
// with a per-row report, the signed manifest reaches the box, e-tickets
// scan there, edits and revocations follow, clear data is refused without
// a supervisor and logged with one, and a key rotation keeps old tickets
// valid while new ones are signed by the new key.
func TestEventDesk_createImportIssueRevokeRotate(t *testing.T) {
	d := newDesk(t)
	gate := d.startBox("gate-1")
	if code := d.do("POST", "/api/events", "", "application/json", []byte(briefing), nil); code != http.StatusUnauthorized {
		t.Fatalf("create without the token: %d", code)
	}
	var ev EventView
	if code := d.do("POST", "/api/events", testToken, "application/json", []byte(briefing), &ev); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	if code := d.do("POST", "/api/events", testToken, "application/json", []byte(briefing), nil); code != http.StatusConflict {
		t.Fatalf("create twice: %d", code)
	}
	if code := d.do("POST", "/api/events", testToken, "application/json", []byte(`{"id":"x","name":"n","venue":"bad venue"}`), nil); code != http.StatusBadRequest {
		t.Fatalf("bad venue: %d", code)
	}

	csv := "name,phone,member_level,card_uid,ticket_class\r\n" +
		"张三丰,138-1234-5678,gold,04:a1:b2:c3,vip\r\n" +
		"李小龙,13987654321,,,standard\r\n" +
		",13900000000,,,\r\n" + // no name
		"王大锤,13600001111,silver,,premium\r\n" + // not a class of the event
		"赵敏,1375555,platinum,,vip\r\n" + // too few digits? 7 is fine
		"陈小春,13512345678,,04A1B2C3,\r\n" // card of line 2
	gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(csv))
	if err != nil {
		t.Fatal(err)
	}
	var rep ImportReport
	if code := d.do("POST", "/api/events/briefing-1205/attendees?dry_run=1", testToken, "text/csv", gbk, &rep); code != http.StatusOK || !rep.DryRun || rep.Accepted != 3 {
		t.Fatalf("dry run: %d %+v", code, rep)
	}
	if code := d.do("POST", "/api/events/briefing-1205/attendees", testToken, "text/csv", gbk, &rep); code != http.StatusOK {
		t.Fatalf("import: %d", code)
	}
	if rep.Encoding != "gbk" || rep.Accepted != 3 || len(rep.Rejected) != 3 || rep.Manifest == nil || rep.Manifest.Version != 1 {
		t.Fatalf("report %+v", rep)
	}
	for i, want := range []struct {
		line int
		says string
	}{{4, "empty name"}, {5, "not one of the event's classes"}, {7, "card_uid already given on line 2"}} {
		if r := rep.Rejected[i]; r.Line != want.line || !strings.Contains(r.Reason, want.says) {
			t.Errorf("rejection %d: %+v, want line %d: %s", i, r, want.line, want.says)
		}
	}
	// The same file again: every row is already there.
	var again ImportReport
	d.do("POST", "/api/events/briefing-1205/attendees", testToken, "text/csv", gbk, &again)
	if again.Accepted != 0 || !strings.Contains(fmt.Sprint(again.Rejected), "already imported") {
		t.Fatalf("re-import %+v", again)
	}

	eventually(t, "the box gets the event's manifest", 10*time.Second, func() bool {
		s, _ := gate.Box.Status()
		return s.Manifests["briefing-1205"] >= 1
	})
	// Masked by default; clear only with the token, and that is logged.
	var masked []AttendeeView
	d.do("GET", "/api/events/briefing-1205/attendees", "", "", nil, &masked)
	if len(masked) != 3 || masked[0].Name != "张*丰" || masked[0].Phone != "138****5678" || masked[0].Code != "" {
		t.Fatalf("masked list %+v", masked)
	}
	if code := d.do("GET", "/api/events/briefing-1205/attendees?clear=1", "", "", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("clear without the token: %d", code)
	}
	var clear []AttendeeView
	d.do("GET", "/api/events/briefing-1205/attendees?clear=1", testToken, "", nil, &clear)
	if clear[0].Name != "张三丰" || clear[0].Code == "" {
		t.Fatalf("clear list %+v", clear[0])
	}
	// An e-ticket's QR is the code, and the box admits it.
	png := d.get("/api/events/briefing-1205/tickets/1.png")
	code, err := ticket.DecodePNG(png)
	if err != nil || code != clear[0].Code {
		t.Fatalf("e-ticket reads %q, %v", code, err)
	}
	ctx := context.Background()
	if v, err := gate.Box.Present(ctx, box.Code, code); err != nil || v.Verdict != "admitted" || v.Benefit == "" {
		t.Fatalf("e-ticket at the gate: %+v %v", v, err)
	}
	zraw := d.get("/api/events/briefing-1205/tickets.zip")
	zr, err := zip.NewReader(bytes.NewReader(zraw), int64(len(zraw)))
	if err != nil {
		t.Fatalf("zip: %v", err)
	}
	if len(zr.File) != 4 {
		t.Fatalf("zip: %d files", len(zr.File))
	}
	if sheet := d.get("/api/events/briefing-1205/sheet"); !bytes.Contains(sheet, []byte("tickets/3.png")) || bytes.Contains(sheet, []byte("赵敏")) {
		t.Fatalf("sheet: %s", sheet)
	}

	// Edit a holder: the box's masked name follows with the next version.
	if code := d.do("PATCH", "/api/events/briefing-1205/attendees/2", testToken, "application/json", []byte(`{"name":"李小虎"}`), nil); code != http.StatusOK {
		t.Fatalf("edit: %d", code)
	}
	if code := d.do("PATCH", "/api/events/briefing-1205/attendees/2", testToken, "application/json", []byte(`{"phone":"12"}`), nil); code != http.StatusBadRequest {
		t.Fatalf("bad edit: %d", code)
	}
	// Revoke: the box refuses the ticket within a second.
	if code := d.do("POST", "/api/events/briefing-1205/attendees/3/revoke", testToken, "", nil, nil); code != http.StatusOK {
		t.Fatalf("revoke: %d", code)
	}
	eventually(t, "the box holds the revocation", 10*time.Second, func() bool {
		r, _ := gate.Store.Revoked("briefing-1205", "3")
		return r
	})
	if v, _ := gate.Box.Present(ctx, box.Code, clear[2].Code); v.Reason != "revoked" {
		t.Fatalf("revoked ticket: %+v", v)
	}

	// Rotation: a new key, trusted by the box, then activated.
	var made struct{ ID, PublicKey string }
	if code := d.do("POST", "/api/keys", testToken, "", nil, &made); code != http.StatusOK || made.ID == "" {
		t.Fatalf("new key: %d %+v", code, made)
	}
	pubFile := filepath.Join(d.dir, "next.pub")
	os.WriteFile(pubFile, d.get("/api/keys/"+made.ID+".pub"), 0o644)
	// A second box trusts both keys, as an operator would set it up.
	gate2cfg := &config.Box{
		Box:      config.Identity{ID: "gate-2", Venue: "sh-pudong", Org: "acme-bank"},
		StateDir: filepath.Join(d.dir, "gate-2"), Trust: []string{filepath.Join(d.dir, "signing.pub"), pubFile},
		HTTP: config.HTTP{Listen: "127.0.0.1:0"}, MQTT: config.MQTT{URL: d.broker.URL},
		Policy: config.Policy{DoubleScanWindow: 50 * time.Millisecond, FeverC: 37.3, ClockSkew: 5 * time.Minute},
	}
	gate2, err := box.Start(gate2cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	run(t, "gate-2", gate2)
	if code := d.do("POST", "/api/keys/"+made.ID+"/activate", testToken, "", nil, nil); code != http.StatusOK {
		t.Fatalf("activate: %d", code)
	}
	more := "name,phone,member_level,ticket_class\n钱七,13900004444,gold,vip\n"
	var rep2 ImportReport
	d.do("POST", "/api/events/briefing-1205/attendees", testToken, "text/csv", []byte(more), &rep2)
	if rep2.Accepted != 1 {
		t.Fatalf("import after rotation: %+v", rep2)
	}
	d.do("GET", "/api/events/briefing-1205/attendees?clear=1", testToken, "", nil, &clear)
	if clear[3].Key != made.ID || clear[0].Key == made.ID {
		t.Fatalf("keys: old ticket %s, new ticket %s, new key %s", clear[0].Key, clear[3].Key, made.ID)
	}
	eventually(t, "gate 2 gets the list signed with the new key", 10*time.Second, func() bool {
		s, _ := gate2.Box.Status()
		return s.Manifests["briefing-1205"] >= rep2.Manifest.Version
	})
	for i, c := range []string{clear[1].Code, clear[3].Code} { // old key, new key
		if v, err := gate2.Box.Present(ctx, box.Code, c); err != nil || v.Verdict != "admitted" {
			t.Fatalf("ticket %d at the box trusting both keys: %+v %v", i, v, err)
		}
	}
	var keys []KeyStatus
	d.do("GET", "/api/keys", "", "", nil, &keys)
	if len(keys) != 2 || keys[0].Current || !keys[1].Current || keys[0].Tickets != 2 || keys[0].NeededUntil == nil {
		t.Fatalf("keys %+v", keys)
	}

	// HQ's own log holds every action, the clear views included, and verifies.
	var log struct {
		Chain struct {
			OK      bool `json:"ok"`
			Entries int  `json:"entries"`
		} `json:"chain"`
		Log []struct{ Kind, Actor, Subject, Detail string } `json:"log"`
	}
	d.do("GET", "/api/log", testToken, "", nil, &log)
	kinds := map[string]int{}
	for _, e := range log.Log {
		kinds[e.Kind]++
	}
	if !log.Chain.OK || kinds["clear-view"] < 4 || kinds["action"] < 8 {
		t.Fatalf("HQ log: %+v %v", log.Chain, kinds)
	}
	var sum Summary
	d.do("GET", "/api/events/briefing-1205/summary", "", "", nil, &sum)
	eventually(t, "HQ counts the admissions", 10*time.Second, func() bool {
		d.do("GET", "/api/events/briefing-1205/summary", "", "", nil, &sum)
		return sum.Admitted == 3
	})
	if sum.Expected != 3 || sum.Reasons["revoked"] != 1 || len(sum.VIP) != 2 {
		t.Fatalf("summary %+v", sum)
	}
}
