package hq

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"venuebox/cmd/internal/box"
	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/ticket"
	"venuebox/store"
	"venuebox/sync/mqtttest"
)

// auditRig is HQ on a real Mosquitto with one box that can be stopped,
// have its file edited, and started again.
type auditRig struct {
	t      *testing.T
	dir    string
	broker *mqtttest.Broker
	hq     *HQ
	codes  []string
	box    *box.Daemon
	stop   func()
}

func newAuditRig(t *testing.T) *auditRig {
	t.Helper()
	r := &auditRig{t: t, dir: t.TempDir(), broker: mqtttest.Start(t, nil)}
	if _, err := ticket.GenerateKey(r.dir); err != nil {
		t.Fatal(err)
	}
	priv, err := ticket.LoadPrivateKey(filepath.Join(r.dir, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if r.codes, raw, err = box.DemoManifest(priv, 40); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "manifest.json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "token"), []byte(testToken), 0o600); err != nil {
		t.Fatal(err)
	}
	r.hq, err = Start(&config.HQ{StateDir: filepath.Join(r.dir, "hq"), HTTP: config.HTTP{Listen: "127.0.0.1:0"},
		MQTT: config.MQTT{URL: r.broker.URL}, SigningKey: filepath.Join(r.dir, "signing.key"),
		TokenFile: filepath.Join(r.dir, "token"), Store: config.Store{Driver: config.StoreBbolt}}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	run(t, "hq", r.hq)
	t.Cleanup(func() {
		if r.stop != nil {
			r.stop()
		}
	})
	return r
}

// start runs the box; online false runs it without a broker.
func (r *auditRig) start(online bool) {
	r.t.Helper()
	cfg := &config.Box{
		Box:      config.Identity{ID: "gate-1", Venue: "demo-venue", Org: "demo-bank"},
		StateDir: filepath.Join(r.dir, "box"), Trust: []string{filepath.Join(r.dir, "signing.pub")},
		Manifest: filepath.Join(r.dir, "manifest.json"), HTTP: config.HTTP{Listen: "127.0.0.1:0"},
		Policy: config.Policy{DoubleScanWindow: time.Millisecond, FeverC: 37.3, ClockSkew: 5 * time.Minute},
	}
	if online {
		cfg.MQTT = config.MQTT{URL: r.broker.URL}
	}
	d, err := box.Start(cfg, quiet())
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	r.box = d
	r.stop = func() {
		cancel()
		if err := <-done; err != nil {
			r.t.Errorf("box: %v", err)
		}
		r.stop = nil
	}
}

// scan presents codes[i] for each i.
func (r *auditRig) scan(is ...int) {
	r.t.Helper()
	for _, i := range is {
		time.Sleep(2 * time.Millisecond) // past the double-scan window
		if _, err := r.box.Box.Present(context.Background(), box.Code, r.codes[i]); err != nil {
			r.t.Fatal(err)
		}
	}
}

// head returns the number of the box's last audit entry.
func (r *auditRig) head() uint64 {
	r.t.Helper()
	es, err := r.box.Store.AuditLog(0, 1<<20)
	if err != nil || len(es) == 0 {
		r.t.Fatalf("audit log: %d entries, %v", len(es), err)
	}
	return es[len(es)-1].Seq
}

func (r *auditRig) boxes() []BoxStatus {
	r.t.Helper()
	resp, err := http.Get("http://" + r.hq.Addr.String() + "/api/boxes")
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []BoxStatus
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		r.t.Fatal(err)
	}
	return out
}

func (r *auditRig) audit() *AuditStatus {
	for _, b := range r.boxes() {
		if b.Box == "gate-1" {
			return b.Audit
		}
	}
	return nil
}

// waitHeld waits until HQ holds the box's chain up to seq.
func (r *auditRig) waitHeld(seq uint64) {
	r.t.Helper()
	eventually(r.t, "HQ holds the audit chain", 15*time.Second, func() bool {
		a := r.audit()
		return a != nil && a.Seq >= seq
	})
}

// edit changes one audit entry in the stopped box's bbolt file; fixup also
// rehashes it and every entry after it and the head, so that the box's own
// VerifyAudit passes.
func (r *auditRig) edit(seq uint64, fixup bool, change func(*store.Entry)) {
	r.t.Helper()
	db, err := bolt.Open(filepath.Join(r.dir, "box", box.StoreFile), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		r.t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		key := binary.BigEndian.AppendUint64(nil, seq)
		var e store.Entry
		if err := json.Unmarshal(b.Get(key), &e); err != nil {
			return err
		}
		change(&e)
		if !fixup {
			v, _ := json.Marshal(e)
			return b.Put(key, v)
		}
		prev := e.Prev
		c := b.Cursor()
		for k, v := c.Seek(key); k != nil; k, v = c.Next() {
			var x store.Entry
			if binary.BigEndian.Uint64(k) == seq {
				x = e
			} else if err := json.Unmarshal(v, &x); err != nil {
				return err
			}
			x.Prev = prev
			x.Hash = store.HashEntry(x)
			prev = x.Hash
			nv, _ := json.Marshal(x)
			if err := b.Put(append([]byte(nil), k...), nv); err != nil {
				return err
			}
			last := x.Seq
			head, _ := json.Marshal(struct {
				Seq  uint64 `json:"seq"`
				Hash string `json:"hash"`
			}{last, prev})
			if err := tx.Bucket([]byte("meta")).Put([]byte("audit"), head); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
}

// decisionEntry returns the number of the first audit entry of a decision
// with the given verdict.
func (r *auditRig) decisionEntry(verdict string) uint64 {
	r.t.Helper()
	es, err := r.box.Store.AuditLog(0, 10000)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, e := range es {
		if e.Kind == "decision" && e.Verdict == verdict {
			return e.Seq
		}
	}
	r.t.Fatalf("no %s decision in the audit log", verdict)
	return 0
}

func (r *auditRig) wantBroken(reason string) {
	r.t.Helper()
	eventually(r.t, "HQ flags the box's audit chain ("+reason+")", 15*time.Second, func() bool {
		a := r.audit()
		return a != nil && !a.OK && len(a.Breaks) > 0
	})
	a := r.audit()
	if a.Breaks[0].Reason != reason {
		r.t.Fatalf("breaks %+v, want the first to be %s", a.Breaks, reason)
	}
	r.t.Logf("flagged: %+v", a.Breaks)
}

// TestAudit_editedBoxFileFlagged: HQ verifies each box's audit chain as it
// arrives, and a box whose bbolt file was edited while it was stopped is
// flagged on /api/boxes, whether HQ had the edited entry already or not,
// and whether or not the edit fixed the hashes up.
func TestAudit_editedBoxFileFlagged(t *testing.T) {
	t.Run("clean chain verifies", func(t *testing.T) {
		r := newAuditRig(t)
		r.start(true)
		r.scan(1, 2, 3, 2)
		r.box.Box.Present(context.Background(), box.Code, "FORGED-1")
		r.waitHeld(r.head())
		r.stop()
		r.start(true) // a restart attests the chain HQ holds
		r.scan(4)
		r.waitHeld(r.head())
		eventually(t, "the restarted box attests its chain", 10*time.Second, func() bool {
			a := r.audit()
			return a.AttestedAt != nil && a.AttestedSeq > 0
		})
		if a := r.audit(); !a.OK || a.BreakCount != 0 {
			t.Fatalf("a clean chain is flagged: %+v", a)
		}
	})
	t.Run("altered after HQ received it", func(t *testing.T) {
		r := newAuditRig(t)
		r.start(true)
		r.scan(1, 2, 1) // 1 admitted, 2 admitted, 1 already-used
		r.waitHeld(r.head())
		seq := r.decisionEntry("rejected")
		r.stop()
		r.edit(seq, false, func(e *store.Entry) { e.Verdict, e.Reason = "admitted", "ok" })
		r.start(true)
		r.wantBroken("altered")
	})
	t.Run("altered and rehashed after HQ received it", func(t *testing.T) {
		r := newAuditRig(t)
		r.start(true)
		r.scan(1, 2, 1)
		r.waitHeld(r.head())
		seq := r.decisionEntry("rejected")
		r.stop()
		r.edit(seq, true, func(e *store.Entry) { e.Verdict, e.Reason = "admitted", "ok" })
		r.start(true)
		if _, err := r.box.Store.VerifyAudit(); err != nil {
			t.Fatalf("the fixed-up file should fool the box itself: %v", err)
		}
		r.wantBroken("altered")
	})
	t.Run("altered before HQ received it", func(t *testing.T) {
		r := newAuditRig(t)
		r.start(false) // no broker: the chain stays on the box
		r.scan(5, 6, 5)
		seq := r.decisionEntry("rejected")
		r.stop()
		r.edit(seq, false, func(e *store.Entry) { e.Verdict, e.Reason = "admitted", "ok" })
		r.start(true)
		r.wantBroken("altered")
		// The rest of the chain is still taken and checked.
		r.scan(7)
		r.waitHeld(r.head())
		if a := r.audit(); a.BreakCount != 1 {
			t.Fatalf("one edit, %d breaks: %+v", a.BreakCount, a.Breaks)
		}
	})
	t.Run("rewritten before HQ received it", func(t *testing.T) {
		r := newAuditRig(t)
		r.start(true)
		r.scan(8)
		r.waitHeld(r.head())
		r.stop()
		r.start(false)
		r.scan(9, 8)
		seq := r.decisionEntry("rejected")
		r.stop()
		r.edit(seq, true, func(e *store.Entry) { e.Verdict, e.Reason = "admitted", "ok" })
		r.start(true)
		r.waitHeld(r.head())
		// Each entry matches its own hash and links to the one before: HQ
		// cannot know what the entry said before it arrived. What it does
		// show is that nothing else broke.
		if a := r.audit(); !a.OK {
			t.Fatalf("a consistent chain HQ never saw before is flagged: %+v", a)
		}
	})
	t.Run("removed before HQ received it", func(t *testing.T) {
		r := newAuditRig(t)
		r.start(true)
		r.scan(10)
		r.waitHeld(r.head())
		r.stop()
		r.start(false)
		r.scan(11, 10)
		seq := r.decisionEntry("rejected")
		r.stop()
		db, err := bolt.Open(filepath.Join(r.dir, "box", box.StoreFile), 0o600, &bolt.Options{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("audit")).Delete(binary.BigEndian.AppendUint64(nil, seq))
		}); err != nil {
			t.Fatal(err)
		}
		db.Close()
		r.start(true)
		r.wantBroken("missing")
	})
}
