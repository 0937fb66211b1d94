package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var testBox = Identity{Org: "acme-bank", Venue: "sh-pudong", Box: "gate-1"}

func openTest(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path, testBox)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		s.Close()
	})
	return s
}

func snapshot(event string, version uint64, n int) Manifest {
	m := Manifest{Event: Event{ID: event, Name: "Briefing"}, Snapshot: true, Version: version}
	for i := 1; i <= n; i++ {
		id := fmt.Sprint(i)
		m.Tickets = append(m.Tickets, Ticket{ID: id, CodeHash: fmt.Sprintf("code-%s-%d", event, i), NameMasked: "张*丰"})
	}
	return m
}

// admitFirst admits a ticket that has no admission yet, like the gate.
func admitFirst(f Found) Outcome {
	switch {
	case f.TicketID == "":
		return Outcome{Verdict: "rejected", Reason: "unknown", At: time.Now()}
	case len(f.Admissions) > 0:
		return Outcome{Verdict: "rejected", Reason: "already-used", At: time.Now()}
	}
	return Outcome{Verdict: "admitted", Reason: "ok", At: time.Now()}
}

func TestAdmit_recordsOutboxCountsAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "box.db")
	s, err := Open(path, testBox)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyManifest(snapshot("ev1", 1, 3)); err != nil {
		t.Fatal(err)
	}
	scan := func(code string) Result {
		t.Helper()
		r, err := s.Admit(Presented{Input: []byte(code), CodeHash: code, Gate: "gate-1"}, admitFirst)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := scan("code-ev1-2")
	if r.CheckIn.Verdict != "admitted" || r.CheckIn.Ticket != "2" || r.CheckIn.Event != "ev1" || r.CheckIn.Seq != 1 || r.CheckIn.Boot != 1 {
		t.Fatalf("first admission: %+v", r.CheckIn)
	}
	if r.Found.Ticket == nil || r.Found.Ticket.NameMasked != "张*丰" {
		t.Fatalf("found ticket %+v", r.Found.Ticket)
	}
	if r := scan("code-ev1-2"); r.CheckIn.Reason != "already-used" || len(r.Found.Admissions) != 1 {
		t.Fatalf("second admission: %+v", r)
	}
	if r := scan("nonsense"); r.CheckIn.Reason != "unknown" || r.CheckIn.Event != "" {
		t.Fatalf("unknown: %+v", r.CheckIn)
	}
	if q, _ := s.Queued(); q != 3 {
		t.Fatalf("queued %d, want 3", q)
	}
	pend, err := s.Pending(10)
	if err != nil || len(pend) != 3 || pend[0].Seq != 1 || pend[2].Seq != 3 {
		t.Fatalf("pending %+v %v", pend, err)
	}
	forged := pend[2].Nonce[:32] + "0000000000000000"
	if err := s.Ack(pend[0].Nonce, pend[1].Nonce, "no-such-nonce", pend[0].Nonce, forged); err != nil {
		t.Fatal(err)
	}
	if q, _ := s.Queued(); q != 1 {
		t.Fatalf("queued after ack %d, want 1", q)
	}
	s.Close()

	s = openTest(t, path)
	if s.Boot() != 2 {
		t.Fatalf("boot %d, want 2", s.Boot())
	}
	c, err := s.Counts()
	if err != nil || c != (Counts{Admitted: 1, Rejected: 2}) {
		t.Fatalf("counts after reopen %+v %v", c, err)
	}
	pend, _ = s.Pending(10)
	if len(pend) != 1 || pend[0].Reason != "unknown" {
		t.Fatalf("pending after reopen %+v", pend)
	}
	r, err = s.Admit(Presented{Input: []byte("code-ev1-3"), CodeHash: "code-ev1-3", Gate: "gate-1"}, admitFirst)
	if err != nil || r.CheckIn.Boot != 2 || r.CheckIn.Seq != 1 {
		t.Fatalf("after reopen: boot %d seq %d, want 2 1 (%v)", r.CheckIn.Boot, r.CheckIn.Seq, err)
	}
	if n, err := s.VerifyAudit(); err != nil || n < 6 {
		t.Fatalf("audit: %d entries, %v", n, err)
	}
}

func TestAdmit_concurrentSameTicket(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "box.db"))
	if err := s.ApplyManifest(snapshot("ev1", 1, 1)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make(chan string, 16)
	for range 16 {
		wg.Go(func() {
			r, err := s.Admit(Presented{Input: []byte("code-ev1-1"), CodeHash: "code-ev1-1", Gate: "gate-1"}, admitFirst)
			if err != nil {
				t.Error(err)
				return
			}
			results <- r.CheckIn.Verdict
		})
	}
	wg.Wait()
	close(results)
	admitted := 0
	for v := range results {
		if v == "admitted" {
			admitted++
		}
	}
	if admitted != 1 {
		t.Fatalf("%d admissions of one ticket, want 1", admitted)
	}
}

func TestAdmit_repeatRecordsNothing(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "box.db"))
	r, err := s.Admit(Presented{Input: []byte("x")}, func(Found) Outcome {
		return Outcome{Verdict: "rejected", Reason: "unknown", At: time.Now(), Repeat: true}
	})
	if err != nil || !r.Repeat {
		t.Fatal(r, err)
	}
	if q, _ := s.Queued(); q != 0 {
		t.Fatalf("a repeat was queued")
	}
	if c, _ := s.Counts(); c != (Counts{}) {
		t.Fatalf("a repeat was counted: %+v", c)
	}
}

func TestAdmit_newestNeverGoesBack(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "box.db"))
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	var got []time.Time
	for _, when := range []time.Time{at, at.Add(-time.Hour)} {
		if _, err := s.Admit(Presented{Input: []byte("x"), Gate: "gate-1"}, func(f Found) Outcome {
			got = append(got, f.Newest)
			return Outcome{Verdict: "rejected", Reason: "unknown", At: when}
		}); err != nil {
			t.Fatal(err)
		}
	}
	if !got[0].IsZero() || !got[1].Equal(at) {
		t.Fatalf("newest seen %v, want zero then %v", got, at)
	}
	if n, _ := s.Newest(); !n.Equal(at) {
		t.Fatalf("an earlier time moved newest back to %v", n)
	}
}

func TestApplyManifest_snapshotDeltaAndVersions(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "box.db"))
	if err := s.ApplyManifest(snapshot("ev1", 2, 3)); err != nil {
		t.Fatal(err)
	}
	// An older snapshot is a redelivery: ignored.
	if err := s.ApplyManifest(snapshot("ev1", 1, 1)); err != nil {
		t.Fatal(err)
	}
	d := Manifest{Event: Event{ID: "ev1", Reentry: true}, Version: 3, Base: 2,
		Tickets: []Ticket{{ID: "2", CodeHash: "new-code-2"}, {ID: "4", CodeHash: "code-ev1-4"}},
		Removed: []string{"3"}, Revoked: []string{"1"}}
	if err := s.ApplyManifest(d); err != nil {
		t.Fatal(err)
	}
	gap := Manifest{Event: Event{ID: "ev1"}, Version: 6, Base: 5, Tickets: []Ticket{{ID: "9", CodeHash: "code-ev1-9"}}}
	if err := s.ApplyManifest(gap); !errors.Is(err, ErrVersion) {
		t.Fatalf("delta on the wrong base: %v", err)
	}
	vs, _ := s.ManifestVersions()
	if vs["ev1"] != 3 {
		t.Fatalf("versions %v", vs)
	}
	evs, _ := s.Events()
	if len(evs) != 1 || evs[0].Tickets != 3 || !evs[0].Reentry {
		t.Fatalf("events %+v", evs)
	}
	for code, want := range map[string]string{
		"code-ev1-1": "1", "code-ev1-2": "", "new-code-2": "2", "code-ev1-3": "", "code-ev1-4": "4", "code-ev1-9": "",
	} {
		r, err := s.Admit(Presented{Input: []byte(code), CodeHash: code}, admitFirst)
		if err != nil {
			t.Fatal(err)
		}
		if r.Found.TicketID != want {
			t.Errorf("%s found ticket %q, want %q", code, r.Found.TicketID, want)
		}
		if code == "code-ev1-1" && !r.Found.Revoked {
			t.Errorf("ticket 1 not revoked")
		}
	}
	// A new snapshot does not bring a revoked ticket back.
	if err := s.ApplyManifest(snapshot("ev1", 4, 2)); err != nil {
		t.Fatal(err)
	}
	r, _ := s.Admit(Presented{Input: []byte("code-ev1-1"), CodeHash: "code-ev1-1"}, admitFirst)
	if !r.Found.Revoked {
		t.Fatal("a snapshot undid a revocation")
	}
}

func TestRevokeAndPeers(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "box.db"))
	if err := s.ApplyManifest(snapshot("ev1", 1, 3)); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke("ev1", "3"); err != nil {
		t.Fatal(err)
	}
	peer := CheckIn{Nonce: "n1", Box: "gate-2", Gate: "gate-2", Event: "ev1", Ticket: "2", Verdict: "admitted", Reason: "ok", At: time.Now()}
	for i, want := range []bool{true, false} {
		added, err := s.AddPeer(peer)
		if err != nil || added != want {
			t.Fatalf("AddPeer #%d = %v %v, want %v", i, added, err, want)
		}
	}
	if _, err := s.AddPeer(CheckIn{Nonce: "n2", Box: "gate-1"}); err == nil {
		t.Fatal("a check-in of this very box was taken as a peer's")
	}
	r, _ := s.Admit(Presented{Input: []byte("x"), Event: "ev1", Ticket: "2"}, admitFirst)
	if r.CheckIn.Reason != "already-used" || len(r.Found.Admissions) != 1 || r.Found.Admissions[0].Gate != "gate-2" {
		t.Fatalf("after a peer admission: %+v", r)
	}
	r, _ = s.Admit(Presented{Input: []byte("y"), Event: "ev1", Ticket: "3"}, admitFirst)
	if !r.Found.Revoked {
		t.Fatal("revocation not found")
	}
	if q, _ := s.Queued(); q != 2 {
		t.Fatalf("queued %d: peers must not enter the outbox", q)
	}
}

func TestCards(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "box.db"))
	m := snapshot("ev1", 1, 2)
	m.Event.CardKey = []byte("k")
	m.Cards = []Card{{UIDHash: "hash-of-04A1B2", Ticket: "2"}}
	if err := s.ApplyManifest(m); err != nil {
		t.Fatal(err)
	}
	var gotKey []byte
	r, err := s.Admit(Presented{Input: []byte("04A1B2"), CardHash: func(key []byte) string {
		gotKey = key
		return "hash-of-04A1B2"
	}}, admitFirst)
	if err != nil || r.Found.TicketID != "2" || string(gotKey) != "k" {
		t.Fatalf("card: %+v %v key %q", r.Found, err, gotKey)
	}
}

func TestVerifyAudit_detectsTampering(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(b *bolt.Bucket) error
	}{
		{"altered", func(b *bolt.Bucket) error {
			v := append([]byte(nil), b.Get(u64(2))...)
			for i := range v {
				if v[i] == 'u' { // "unknown" becomes "vnknown"
					v[i] = 'v'
					break
				}
			}
			return b.Put(u64(2), v)
		}},
		{"removed", func(b *bolt.Bucket) error { return b.Delete(u64(2)) }},
		{"last removed", func(b *bolt.Bucket) error { return b.Delete(u64(3)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "box.db")
			s, err := Open(path, testBox)
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range []string{"a", "b"} {
				if _, err := s.Admit(Presented{Input: []byte(in)}, admitFirst); err != nil {
					t.Fatal(err)
				}
			}
			if n, err := s.VerifyAudit(); err != nil || n != 3 {
				t.Fatalf("before: %d %v", n, err)
			}
			if err := s.db.Update(func(tx *bolt.Tx) error { return tc.tamper(tx.Bucket(bAudit)) }); err != nil {
				t.Fatal(err)
			}
			if _, err := s.VerifyAudit(); !errors.Is(err, ErrChain) {
				t.Fatalf("tampering not detected: %v", err)
			}
			s.Close()
		})
	}
}

func TestOpen_otherBoxAndLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "box.db")
	s, err := Open(path, testBox)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := Open(path, testBox); err == nil {
		t.Fatal("a second open of a held file succeeded")
	}
	if time.Since(start) > 30*time.Second {
		t.Fatal("open of a held file hung")
	}
	s.Close()
	if _, err := Open(path, Identity{Box: "gate-9"}); !errors.Is(err, ErrIdentity) {
		t.Fatalf("open as another box: %v", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func TestNoteConfig_auditsChanges(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "box.db"))
	for i, tc := range []struct {
		digest string
		want   bool
	}{{"aa", true}, {"aa", false}, {"bb", true}} {
		changed, err := s.NoteConfig(tc.digest)
		if err != nil || changed != tc.want {
			t.Fatalf("#%d NoteConfig(%s) = %v %v, want %v", i, tc.digest, changed, err, tc.want)
		}
	}
	log, err := s.AuditLog(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var configs []string
	for _, e := range log {
		if e.Kind == "config" {
			configs = append(configs, e.Detail)
		}
	}
	if len(configs) != 2 || configs[1] != "configuration bb replaces aa" {
		t.Fatalf("config entries %q", configs)
	}
}

func TestAddPeer_undoAtAnotherGate(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "box.db"))
	if err := s.ApplyManifest(snapshot("ev1", 1, 2)); err != nil {
		t.Fatal(err)
	}
	admitted := CheckIn{Nonce: newNonce(seqKey(1, 5)), Box: "gate-2", Gate: "gate-2", Event: "ev1", Ticket: "2", Verdict: "admitted", Reason: "ok", At: time.Now()}
	if _, err := s.AddPeer(admitted); err != nil {
		t.Fatal(err)
	}
	undo := CheckIn{Nonce: newNonce(seqKey(1, 6)), Box: "gate-2", Gate: "gate-2", Event: "ev1", Ticket: "2", Verdict: "rejected",
		Reason: ReasonUndo, Staff: "s1", Note: "undo " + admitted.Nonce + ": turnstile jammed", At: time.Now()}
	if _, err := s.AddPeer(undo); err != nil {
		t.Fatal(err)
	}
	if uses, _ := s.Admissions("ev1", "2"); len(uses) != 0 {
		t.Fatalf("after the peer's undo the ticket still has %d admissions", len(uses))
	}
}
