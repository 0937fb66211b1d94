package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func held(f Found) Outcome { return Outcome{Verdict: "held", Reason: ReasonFever, At: time.Now()} }

func TestUndo_onceWithinTheWindowAndAfterReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "box.db")
	s, err := Open(path, testBox)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyManifest(snapshot("ev1", 1, 3)); err != nil {
		t.Fatal(err)
	}
	r, err := s.Admit(Presented{Input: []byte("code-ev1-1"), CodeHash: "code-ev1-1", Gate: "gate-1"}, admitFirst)
	if err != nil || r.CheckIn.Verdict != "admitted" {
		t.Fatalf("admit: %+v %v", r, err)
	}
	nonce := r.CheckIn.Nonce
	undo, err := s.Undo(Action{Nonce: nonce, Staff: "duty", Note: "turnstile jammed", At: time.Now(), Gate: "gate-1"}, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if undo.Verdict != "rejected" || undo.Reason != ReasonUndo || undo.Ticket != "1" || undo.Event != "ev1" || undo.Staff != "duty" ||
		undo.Note != "undo "+nonce+": turnstile jammed" || undo.Seq != r.CheckIn.Seq+1 {
		t.Fatalf("undo check-in %+v", undo)
	}
	if of, note := StaffNote(undo); of != nonce || note != "turnstile jammed" {
		t.Errorf("StaffNote: %q %q", of, note)
	}
	if uses, _ := s.Admissions("ev1", "1"); len(uses) != 0 {
		t.Errorf("admissions after undo: %+v", uses)
	}
	if c, _ := s.Counts(); c.Admitted != 0 || c.Rejected != 0 {
		t.Errorf("counts after undo: %+v", c)
	}
	if q, _ := s.Queued(); q != 2 {
		t.Errorf("queued %d: the undo must go to HQ too", q)
	}
	if _, err := s.Undo(Action{Nonce: nonce, Staff: "duty", Note: "again", At: time.Now()}, 15*time.Minute); !errors.Is(err, ErrResolved) {
		t.Errorf("second undo: %v", err)
	}
	// The ticket may enter again.
	if r, _ := s.Admit(Presented{Input: []byte("code-ev1-1"), CodeHash: "code-ev1-1", Gate: "gate-1"}, admitFirst); r.CheckIn.Reason != "ok" {
		t.Errorf("after undo: %+v", r.CheckIn)
	}
	s.Close()

	s = openTest(t, path)
	if _, err := s.Undo(Action{Nonce: nonce, Staff: "duty", Note: "after reopen", At: time.Now()}, 15*time.Minute); !errors.Is(err, ErrResolved) {
		t.Errorf("undo after reopen: %v", err)
	}
	recent, err := s.Recent(10, time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var orig *Decision
	for i := range recent {
		if recent[i].Nonce == nonce {
			orig = &recent[i]
		}
	}
	if orig == nil || orig.ResolvedBy != undo.Nonce || orig.Name != "张*丰" {
		t.Errorf("the undone admission in Recent: %+v", orig)
	}
	// Too late, not an admission, no such check-in.
	r, _ = s.Admit(Presented{Input: []byte("code-ev1-2"), CodeHash: "code-ev1-2", Gate: "gate-1"}, admitFirst)
	if _, err := s.Undo(Action{Nonce: r.CheckIn.Nonce, Staff: "duty", Note: "late", At: time.Now().Add(16 * time.Minute)}, 15*time.Minute); !errors.Is(err, ErrNotUndoable) {
		t.Errorf("late undo: %v", err)
	}
	rej, _ := s.Admit(Presented{Input: []byte("nonsense"), CodeHash: "nonsense", Gate: "gate-1"}, admitFirst)
	if _, err := s.Undo(Action{Nonce: rej.CheckIn.Nonce, Staff: "duty", Note: "x", At: time.Now()}, 15*time.Minute); !errors.Is(err, ErrNotUndoable) {
		t.Errorf("undo of a rejection: %v", err)
	}
	for _, n := range []string{"", "zz", strings.Repeat("0", 48)} {
		if _, err := s.Undo(Action{Nonce: n, Staff: "duty", Note: "x", At: time.Now()}, 15*time.Minute); !errors.Is(err, ErrNotFound) {
			t.Errorf("undo of %q: %v", n, err)
		}
	}
	if _, err := s.VerifyAudit(); err != nil {
		t.Error(err)
	}
}

func TestResolveHold(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "box.db"))
	if err := s.ApplyManifest(snapshot("ev1", 1, 3)); err != nil {
		t.Fatal(err)
	}
	hold := func(code string) CheckIn {
		t.Helper()
		r, err := s.Admit(Presented{Input: []byte(code), CodeHash: code, Gate: "gate-1"}, held)
		if err != nil {
			t.Fatal(err)
		}
		return r.CheckIn
	}
	h1 := hold("code-ev1-1")
	c, err := s.ResolveHold(Action{Nonce: h1.Nonce, Staff: "duty", Note: "still high", At: time.Now(), Gate: "gate-1"}, false)
	if err != nil || c.Verdict != "rejected" || c.Reason != ReasonFever || c.Note != "hold "+h1.Nonce+": still high" {
		t.Fatalf("refuse: %+v %v", c, err)
	}
	if _, err := s.ResolveHold(Action{Nonce: h1.Nonce, Staff: "duty", At: time.Now()}, true); !errors.Is(err, ErrResolved) {
		t.Errorf("resolve twice: %v", err)
	}
	h2 := hold("code-ev1-2")
	c, err = s.ResolveHold(Action{Nonce: h2.Nonce, Staff: "duty", At: time.Now(), Gate: "gate-1"}, true)
	if err != nil || c.Verdict != "admitted" || c.Reason != ReasonOverride {
		t.Fatalf("confirm: %+v %v", c, err)
	}
	if uses, _ := s.Admissions("ev1", "2"); len(uses) != 1 || uses[0].Nonce != c.Nonce {
		t.Errorf("admissions after confirm: %+v", uses)
	}
	// A hold whose ticket entered since (scanned again, normal this time)
	// cannot be confirmed: that would admit twice.
	h3 := hold("code-ev1-3")
	time.Sleep(time.Millisecond)
	if _, err := s.Admit(Presented{Input: []byte("code-ev1-3"), CodeHash: "code-ev1-3", Gate: "gate-1"}, admitFirst); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResolveHold(Action{Nonce: h3.Nonce, Staff: "duty", At: time.Now()}, true); !errors.Is(err, ErrNotUndoable) {
		t.Errorf("confirm after entry: %v", err)
	}
	if _, err := s.ResolveHold(Action{Nonce: c.Nonce, Staff: "duty", At: time.Now()}, true); !errors.Is(err, ErrNotUndoable) {
		t.Errorf("resolve an admission: %v", err)
	}
	holds, err := s.Recent(50, time.Now().Add(-time.Hour), func(d *Decision) bool { return d.Verdict == "held" && d.ResolvedBy == "" })
	if err != nil || len(holds) != 1 || holds[0].Nonce != h3.Nonce {
		t.Errorf("open holds: %+v %v", holds, err)
	}
	var kinds []string
	entries, _ := s.AuditLog(0, 1000)
	for _, e := range entries {
		if e.Actor == "duty" {
			kinds = append(kinds, e.Kind+" "+e.Verdict+"/"+e.Reason)
		}
	}
	if got := strings.Join(kinds, ", "); got != "decision rejected/fever, decision admitted/staff-override" {
		t.Errorf("staff entries: %s", got)
	}
}

func TestFindTickets(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "box.db"))
	m := Manifest{Event: Event{ID: "ev1"}, Snapshot: true, Version: 1}
	for i := 1; i <= 30; i++ {
		m.Tickets = append(m.Tickets, Ticket{ID: fmt.Sprintf("%02d", i), CodeHash: fmt.Sprint("c", i), NameMasked: "李*",
			PhoneMasked: fmt.Sprintf("138****%04d", i%3), Holder: []byte("sealed")})
	}
	if err := s.ApplyManifest(m); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke("ev1", "03"); err != nil {
		t.Fatal(err)
	}
	match := func(t *Ticket) bool { return strings.HasSuffix(t.PhoneMasked, "0000") }
	got, more, err := s.FindTickets([]byte(`0000"`), match, 5)
	if err != nil || len(got) != 5 || !more || got[0].Ticket.ID != "03" || !got[0].Revoked || got[0].Ticket.Holder != nil {
		t.Fatalf("find: %+v more %v err %v", got, more, err)
	}
	got, more, _ = s.FindTickets(nil, match, 20)
	if len(got) != 10 || more {
		t.Errorf("find all: %d more %v", len(got), more)
	}
	if st, ok, err := s.Ticket("ev1", "07"); err != nil || !ok || st.Ticket.NameMasked != "李*" || st.Ticket.Holder != nil {
		t.Errorf("Ticket: %+v %v %v", st, ok, err)
	}
	if _, ok, _ := s.Ticket("ev1", "99"); ok {
		t.Error("Ticket found what is not there")
	}
}

func TestManifestTimes(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "box.db"))
	before := time.Now().Add(-time.Second)
	for _, ev := range []string{"ev1", "ev2"} {
		if err := s.ApplyManifest(snapshot(ev, 1, 2)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		s.Admit(Presented{Input: []byte(fmt.Sprint(i)), CodeHash: fmt.Sprint(i), Gate: "gate-1"}, admitFirst)
	}
	at, err := s.ManifestTimes(1000)
	if err != nil || len(at) != 2 || at["ev1"].Before(before) || at["ev2"].Before(at["ev1"]) {
		t.Fatalf("manifest times %v %v", at, err)
	}
	if at, _ := s.ManifestTimes(5); len(at) != 0 {
		t.Errorf("a short look back found %v", at)
	}
}
