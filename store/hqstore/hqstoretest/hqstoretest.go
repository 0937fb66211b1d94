// Package hqstoretest is the behaviour every HQ attendance store must
// have, as one suite that runs against each (store/hqstore on bbolt,
// store/hqpg on PostgreSQL): exactly once by nonce and by (box, boot,
// seq), also across reopening and between instances sharing the data;
// acknowledgement gaps; conflicts; attendance; the fleet's records with
// their audit-chain position. A store passes when Run passes.
package hqstoretest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"venuebox/store"
	"venuebox/store/hqstore"
)

// Store is what the suite exercises.
type Store interface {
	Ingest(cs []hqstore.CheckIn) (hqstore.Result, error)
	UpdateBox(box string, f func(*hqstore.Box)) error
	Boxes() ([]hqstore.Box, error)
	Attendance(event string) ([]hqstore.CheckIn, error)
	Conflicts(event string) ([]hqstore.Conflict, error)
	Count() (int, error)
	Get(nonce string) (hqstore.CheckIn, bool, error)
	UpdateAudit(box string, f func(*hqstore.AuditState) ([]hqstore.AuditEntry, error)) (hqstore.AuditState, error)
	AuditStates() (map[string]hqstore.AuditState, error)
	AuditEntries(box string, epoch uint32, after uint64, limit int) ([]hqstore.AuditEntry, error)
	ClearAuditBreak(box, by string, at time.Time) (hqstore.AuditState, error)
	// Check verifies the store's own consistency.
	Check() error
	Close() error
}

// Harness tells the suite how to make stores.
type Harness struct {
	// New prepares empty data for one test and returns the function that
	// opens it; the suite calls that again after Close to reopen it.
	New func(t *testing.T) (open func(t *testing.T) Store)
	// Shared says several instances may have the data open at once, as
	// HQ replicas sharing one database do.
	Shared bool
}

// MaxGaps is how many gaps a store keeps and reports per box.
const MaxGaps = 32

// Run runs every test of the suite against the stores h makes.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		f    func(*testing.T, Harness)
	}{
		{"ExactlyOnceAgainstModel", testExactlyOnceAgainstModel},
		{"Conflicts", testConflicts},
		{"UndoCancelsTheAdmission", testUndoCancelsTheAdmission},
		{"GapAcrossBoots", testGapAcrossBoots},
		{"GapsCapped", testGapsCapped},
		{"RefusesIncomplete", testRefusesIncomplete},
		{"DuplicateWithinBatch", testDuplicateWithinBatch},
		{"ExactlyOnceAcrossReopen", testExactlyOnceAcrossReopen},
		{"CheckInRoundTrip", testCheckInRoundTrip},
		{"Attendance", testAttendance},
		{"UpdateBoxAuditState", testUpdateBoxAuditState},
		{"ConcurrentIngest", testConcurrentIngest},
		{"ConcurrentUpdateBox", testConcurrentUpdateBox},
		{"AuditChain", testAuditChain},
		{"ConcurrentUpdateAudit", testConcurrentUpdateAudit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, h) })
	}
}

// open opens a store and checks and closes it when the test ends.
func open(t *testing.T, o func(*testing.T) Store) Store {
	t.Helper()
	s := o(t)
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Error(err)
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// T0 is the suite's clock origin; times are whole microseconds, the finest
// a PostgreSQL timestamptz keeps.
var T0 = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

// CI returns a check-in of box with a nonce derived from box, boot and
// seq, at seq seconds after T0; reason "already-used" makes it rejected.
func CI(box string, boot, seq uint64, ticket, reason string) hqstore.CheckIn {
	v := "admitted"
	if reason == "already-used" {
		v = "rejected"
	}
	return hqstore.CheckIn{Nonce: fmt.Sprintf("%s-%d-%d", box, boot, seq), Box: box, Boot: boot, Seq: seq,
		Event: "ev", Ticket: ticket, Verdict: v, Reason: reason, At: T0.Add(time.Duration(seq) * time.Second),
		Received: T0.Add(time.Hour)}
}

func ingest(t *testing.T, s Store, cs ...hqstore.CheckIn) hqstore.Result {
	t.Helper()
	res, err := s.Ingest(cs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func testExactlyOnceAgainstModel(t *testing.T, h Harness) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	s := open(t, h.New(t))
	var all []hqstore.CheckIn
	for _, box := range []string{"gate-1", "gate-2", "gate-10"} {
		for seq := uint64(1); seq <= 300; seq++ {
			all = append(all, CI(box, 1, seq, fmt.Sprintf("%s-t%d", box, seq), "ok"))
		}
	}
	model := map[string]bool{}
	for range 200 {
		// A batch of random check-ins, some of them already sent, some
		// twice in the batch.
		n := 1 + rng.IntN(40)
		batch := make([]hqstore.CheckIn, n)
		wantNew := 0
		seen := map[string]bool{}
		for i := range batch {
			batch[i] = all[rng.IntN(len(all))]
			if !model[batch[i].Nonce] && !seen[batch[i].Nonce] {
				wantNew++
			}
			seen[batch[i].Nonce] = true
		}
		res := ingest(t, s, batch...)
		if res.Stored != wantNew || res.Stored+res.Duplicates != n {
			t.Fatalf("Ingest: stored %d dup %d, want %d new of %d", res.Stored, res.Duplicates, wantNew, n)
		}
		for k := range seen {
			model[k] = true
		}
		// The gaps reported are the model's, for every box stored into.
		for box, gaps := range res.Gaps {
			b := findBox(t, s, box)
			if got, want := fmt.Sprint(gaps), fmt.Sprint(modelGaps(model, box, b.Max[1])); got != want {
				t.Fatalf("Ingest gaps of %s = %s, want %s", box, got, want)
			}
		}
	}
	n, err := s.Count()
	if err != nil || n != len(model) {
		t.Fatalf("Count = %d, %v; want %d", n, err, len(model))
	}
	att, err := s.Attendance("ev")
	if err != nil || len(att) != len(model) {
		t.Fatalf("Attendance = %d, %v; want %d", len(att), err, len(model))
	}
	for i := 1; i < len(att); i++ {
		if att[i].At.Before(att[i-1].At) {
			t.Fatal("attendance not in time order")
		}
	}
	boxes, err := s.Boxes()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range boxes {
		if got, want := fmt.Sprint(b.Gaps), fmt.Sprint(modelGaps(model, b.Box, b.Max[1])); got != want {
			t.Fatalf("%s gaps = %s, want %s", b.Box, got, want)
		}
	}
	if c, err := s.Conflicts("ev"); err != nil || len(c) != 0 {
		t.Fatalf("Conflicts = %v, %v", c, err)
	}
}

// modelGaps is what a box's gaps must be: every run of boot 1 below max
// that the model lacks, at most MaxGaps of them.
func modelGaps(model map[string]bool, box string, max uint64) []hqstore.Gap {
	want := []hqstore.Gap{}
	next := uint64(1)
	for seq := uint64(1); seq <= max; seq++ {
		if model[fmt.Sprintf("%s-1-%d", box, seq)] {
			if seq > next {
				want = append(want, hqstore.Gap{Boot: 1, From: next, To: seq - 1})
			}
			next = seq + 1
		}
	}
	if len(want) > MaxGaps {
		want = want[:MaxGaps]
	}
	return want
}

func findBox(t *testing.T, s Store, name string) hqstore.Box {
	t.Helper()
	bs, err := s.Boxes()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.Box == name {
			return b
		}
	}
	t.Fatalf("box %s not in the fleet", name)
	return hqstore.Box{}
}

func testConflicts(t *testing.T, h Harness) {
	s := open(t, h.New(t))
	res := ingest(t, s,
		CI("gate-1", 1, 1, "T1", "ok"),
		CI("gate-1", 1, 2, "T2", "ok"),
		CI("gate-2", 1, 1, "T2", "already-used"), // gates in step: no conflict
		CI("gate-2", 1, 2, "T3", "ok"),
	)
	if len(res.Conflicts) != 0 {
		t.Fatalf("first ingest: %+v", res)
	}
	res = ingest(t, s, CI("gate-2", 1, 3, "T1", "ok"), CI("gate-1", 1, 3, "T3", "reentry"))
	if len(res.Conflicts) != 1 || res.Conflicts[0] != (hqstore.ConflictKey{Event: "ev", Ticket: "T1"}) {
		t.Fatalf("second ingest: %+v", res)
	}
	// A redelivery of a conflicting admission adds nothing.
	if res := ingest(t, s, CI("gate-2", 1, 3, "T1", "ok")); res.Stored != 0 || len(res.Conflicts) != 0 {
		t.Fatalf("redelivery: %+v", res)
	}
	// A third gate admitting T1 keeps the conflict; an admission within
	// one batch twice makes one.
	res = ingest(t, s, CI("gate-3", 1, 5, "T1", "ok"), CI("gate-3", 1, 6, "T9", "ok"), CI("gate-4", 1, 1, "T9", "ok"))
	if got := keys(res.Conflicts); got != "ev/T1 ev/T9" {
		t.Fatalf("third ingest conflicts %s", got)
	}
	c, err := s.Conflicts("ev")
	if err != nil || len(c) != 2 || c[0].Ticket != "T1" || c[1].Ticket != "T9" {
		t.Fatalf("Conflicts = %+v, %v", c, err)
	}
	if a := c[0].Admissions; len(a) != 3 || a[0].Box != "gate-1" || a[1].Box != "gate-2" || a[2].Box != "gate-3" {
		t.Fatalf("T1 admissions not the three first-time ones in time order: %+v", a)
	}
	if c, _ := s.Conflicts("other"); len(c) != 0 {
		t.Fatalf("other event has conflicts %v", c)
	}
}

func keys(ks []hqstore.ConflictKey) string {
	var out []string
	for _, k := range ks {
		out = append(out, k.Event+"/"+k.Ticket)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func testGapAcrossBoots(t *testing.T, h Harness) {
	s := open(t, h.New(t))
	// Boot 2 continues boot 1's numbering; boot 3 restarts at 1; boot 4
	// starts late (its start is a gap).
	res := ingest(t, s, CI("b", 1, 1, "a", "ok"), CI("b", 1, 2, "b", "ok"), CI("b", 2, 3, "c", "ok"),
		CI("b", 2, 5, "d", "ok"), CI("b", 3, 1, "e", "ok"))
	if got := fmt.Sprint(res.Gaps["b"]); got != "[{2 4 4}]" {
		t.Fatalf("gaps = %s", got)
	}
	res = ingest(t, s, CI("b", 2, 4, "f", "ok"))
	if len(res.Gaps["b"]) != 0 {
		t.Fatalf("gaps after fill = %v", res.Gaps)
	}
	res = ingest(t, s, CI("b", 4, 3, "g", "ok"), CI("b", 4, 4, "h", "ok"), CI("b", 4, 7, "i", "ok"))
	if got := fmt.Sprint(res.Gaps["b"]); got != "[{4 1 2} {4 5 6}]" {
		t.Fatalf("gaps of a late boot = %s", got)
	}
	b := findBox(t, s, "b")
	if b.Contig[1] != 2 || b.Contig[2] != 5 || b.Contig[3] != 1 || b.Contig[4] != 0 || b.Max[4] != 7 {
		t.Fatalf("marks contig %v max %v", b.Contig, b.Max)
	}
	// A batch of duplicates only reports no gaps for the box.
	if res := ingest(t, s, CI("b", 4, 3, "g", "ok")); res.Stored != 0 || len(res.Gaps) != 0 {
		t.Fatalf("duplicates: %+v", res)
	}
}

func testGapsCapped(t *testing.T, h Harness) {
	s := open(t, h.New(t))
	var cs []hqstore.CheckIn
	for seq := uint64(2); seq <= 200; seq += 2 {
		cs = append(cs, CI("holey", 1, seq, fmt.Sprint(seq), "reentry"))
	}
	res := ingest(t, s, cs...)
	g := res.Gaps["holey"]
	if len(g) != MaxGaps || g[0] != (hqstore.Gap{Boot: 1, From: 1, To: 1}) || g[MaxGaps-1] != (hqstore.Gap{Boot: 1, From: 63, To: 63}) {
		t.Fatalf("gaps = %v", g)
	}
	var fill []hqstore.CheckIn
	for seq := uint64(1); seq <= 199; seq += 2 {
		fill = append(fill, CI("holey", 1, seq, fmt.Sprint(seq), "reentry"))
	}
	if res := ingest(t, s, fill...); len(res.Gaps["holey"]) != 0 {
		t.Fatalf("gaps after fill = %v", res.Gaps["holey"])
	}
	if b := findBox(t, s, "holey"); b.Contig[1] != 200 {
		t.Fatalf("contig = %d, want 200", b.Contig[1])
	}
}

func testRefusesIncomplete(t *testing.T, h Harness) {
	s := open(t, h.New(t))
	for _, bad := range []hqstore.CheckIn{{Box: "b", Seq: 2}, {Nonce: "n", Seq: 2}, {Nonce: "n", Box: "b"}} {
		if _, err := s.Ingest([]hqstore.CheckIn{CI("b", 1, 1, "a", "ok"), bad}); err == nil {
			t.Fatalf("accepted %+v", bad)
		}
	}
	if n, _ := s.Count(); n != 0 {
		t.Fatalf("partial batch written: %d", n)
	}
	if res, err := s.Ingest(nil); err != nil || res.Stored != 0 || res.Duplicates != 0 {
		t.Fatalf("empty ingest: %+v, %v", res, err)
	}
}

func testDuplicateWithinBatch(t *testing.T, h Harness) {
	s := open(t, h.New(t))
	a := CI("gate-1", 1, 1, "T1", "ok")
	other := a
	other.Nonce = "another-nonce" // same box, boot and seq: the same decision
	sameNonce := CI("gate-1", 1, 2, "T2", "ok")
	sameNonce.Nonce = a.Nonce // same nonce, other numbers: still once
	res := ingest(t, s, a, a, other, sameNonce)
	if res.Stored != 1 || res.Duplicates != 3 || len(res.Conflicts) != 0 {
		t.Fatalf("Ingest = %+v, want 1 stored 3 duplicates", res)
	}
	if n, _ := s.Count(); n != 1 {
		t.Fatalf("Count = %d", n)
	}
}

func testExactlyOnceAcrossReopen(t *testing.T, h Harness) {
	o := h.New(t)
	s := o(t)
	var cs []hqstore.CheckIn
	for seq := uint64(1); seq <= 50; seq++ {
		if seq%10 != 0 {
			cs = append(cs, CI("gate-1", 1, seq, fmt.Sprint(seq), "ok"))
		}
	}
	ingest(t, s, cs...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, o)
	res := ingest(t, s, cs...)
	if res.Stored != 0 || res.Duplicates != len(cs) {
		t.Fatalf("after reopen: %+v", res)
	}
	res = ingest(t, s, CI("gate-1", 1, 51, "51", "ok"))
	if got := fmt.Sprint(res.Gaps["gate-1"]); got != "[{1 10 10} {1 20 20} {1 30 30} {1 40 40} {1 50 50}]" {
		t.Fatalf("gaps after reopen = %s", got)
	}
	if n, _ := s.Count(); n != len(cs)+1 {
		t.Fatalf("Count = %d", n)
	}
}

// fill sets every field of the struct v points to to a value that is not
// the zero value, so that a field a store forgets shows up. A field of a
// kind it does not know fails the test: teach fill about it.
func fill(t *testing.T, v any, salt int) {
	t.Helper()
	rv := reflect.ValueOf(v).Elem()
	for i := 0; i < rv.NumField(); i++ {
		f, sf := rv.Field(i), rv.Type().Field(i)
		name := strings.ToLower(sf.Name)
		switch x := f.Addr().Interface().(type) {
		case *string:
			*x = fmt.Sprintf("%s-%d", name, salt)
		case *uint64:
			*x = uint64(10*salt + i + 1)
		case *uint32:
			*x = uint32(20*salt + i + 1)
		case *int:
			*x = 100*salt + i + 1
		case *int64:
			*x = int64(-1000*salt - i - 1)
		case *bool:
			*x = true
		case *time.Time:
			*x = T0.Add(time.Duration(salt)*time.Hour + time.Duration(i)*time.Microsecond + 123456*time.Microsecond)
		case **float64:
			temp := 36.5 + float64(salt)/10
			*x = &temp
		case *map[string]uint64:
			*x = map[string]uint64{"ev": uint64(salt + 1), "ev-2": 9}
		case *map[uint64]uint64:
			*x = map[uint64]uint64{1: uint64(salt + 2), 3: 4}
		case *[]hqstore.Gap:
			*x = []hqstore.Gap{{Boot: 3, From: 2, To: 3}}
		case *[]hqstore.AuditMark:
			*x = []hqstore.AuditMark{{Seq: uint64(salt), Digest: "d1"}, {Seq: uint64(salt + 4), Digest: "d2"}}
		case *[]hqstore.AuditBreak:
			*x = []hqstore.AuditBreak{{Seq: uint64(salt), Reason: hqstore.BreakAltered, Detail: "hash differs", Found: T0.Add(time.Minute)}}
		default:
			t.Fatalf("hqstoretest: fill: field %s of type %s: teach fill a value for it", sf.Name, sf.Type)
		}
	}
}

func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Fatalf("%s differs:\n got %s\nwant %s", what, g, w)
	}
}

func testCheckInRoundTrip(t *testing.T, h Harness) {
	o := h.New(t)
	s := o(t)
	var c hqstore.CheckIn
	fill(t, &c, 1)
	c.Event, c.Verdict, c.Reason = "ev", "admitted", "ok"
	bare := CI("gate-9", 2, 7, "T7", "already-used") // no temperature, no optional text
	ingest(t, s, c, bare)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, o)
	for _, want := range []hqstore.CheckIn{c, bare} {
		got, ok, err := s.Get(want.Nonce)
		if err != nil || !ok {
			t.Fatalf("Get(%s) = %v, %v", want.Nonce, ok, err)
		}
		sameJSON(t, "check-in after Get", got, want)
	}
	if _, ok, err := s.Get("no-such-nonce"); ok || err != nil {
		t.Fatalf("Get of an unknown nonce = %v, %v", ok, err)
	}
	att, err := s.Attendance("ev")
	if err != nil || len(att) != 2 {
		t.Fatalf("Attendance = %d, %v", len(att), err)
	}
	sameJSON(t, "attendance", att, []hqstore.CheckIn{bare, c})
}

func testAttendance(t *testing.T, h Harness) {
	s := open(t, h.New(t))
	var want []string
	var cs []hqstore.CheckIn
	for i := range 30 {
		c := CI(fmt.Sprintf("gate-%d", i%3), 1, uint64(i/3+1), fmt.Sprint(i), "ok")
		c.At = T0.Add(time.Duration((i*7)%30) * time.Minute) // not in arrival order
		c.Nonce = fmt.Sprintf("n%02d", i)
		if i%5 == 0 {
			c.Event = "other"
		} else {
			want = append(want, fmt.Sprintf("%s %s", c.At.Format(time.TimeOnly), c.Nonce))
		}
		cs = append(cs, c)
	}
	noEvent := CI("gate-0", 1, 99, "", "unreadable")
	noEvent.Event, noEvent.Verdict = "", "rejected"
	cs = append(cs, noEvent)
	ingest(t, s, cs[:17]...)
	ingest(t, s, cs[17:]...)
	sort.Strings(want)
	att, err := s.Attendance("ev")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range att {
		got = append(got, fmt.Sprintf("%s %s", c.At.Format(time.TimeOnly), c.Nonce))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("attendance order:\n got %v\nwant %v", got, want)
	}
	if other, _ := s.Attendance("other"); len(other) != 6 {
		t.Fatalf("other event: %d check-ins", len(other))
	}
	if none, _ := s.Attendance("missing"); len(none) != 0 {
		t.Fatalf("unknown event: %d check-ins", len(none))
	}
	if none, _ := s.Attendance(""); len(none) != 0 {
		t.Fatalf("the empty event: %d check-ins", len(none))
	}
	if n, _ := s.Count(); n != 31 {
		t.Fatalf("Count = %d", n)
	}
}

func testUpdateBoxAuditState(t *testing.T, h Harness) {
	o := h.New(t)
	s := o(t)
	var want hqstore.Box
	fill(t, &want, 2)
	want.Box = "gate-1"
	if err := s.UpdateBox("gate-1", func(b *hqstore.Box) {
		if !reflect.DeepEqual(*b, hqstore.Box{Box: "gate-1"}) && !reflect.DeepEqual(*b, hqstore.Box{}) {
			t.Errorf("a new box's record is not zero: %+v", *b)
		}
		*b = want
		b.Box = "someone-else" // the name is the store's to keep
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateBox("gate-2", func(b *hqstore.Box) { b.Online, b.Queued = true, 7 }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, o)
	bs, err := s.Boxes()
	if err != nil || len(bs) != 2 || bs[0].Box != "gate-1" || bs[1].Box != "gate-2" {
		t.Fatalf("Boxes = %+v, %v", bs, err)
	}
	sameJSON(t, "box record after reopen", bs[0], want)
	// The audit chain's position advances in place; the rest stays.
	if err := s.UpdateBox("gate-1", func(b *hqstore.Box) { b.AuditSeq, b.AuditHead = b.AuditSeq+5, "ab12" }); err != nil {
		t.Fatal(err)
	}
	b := findBox(t, s, "gate-1")
	want.AuditSeq, want.AuditHead = want.AuditSeq+5, "ab12"
	sameJSON(t, "box record after an audit update", b, want)
	// Ingest keeps what UpdateBox wrote.
	ingest(t, s, CI("gate-2", 1, 1, "T", "ok"))
	if b := findBox(t, s, "gate-2"); !b.Online || b.Queued != 7 || b.Max[1] != 1 || !b.LastSeen.Equal(T0.Add(time.Hour)) {
		t.Fatalf("gate-2 after ingest: %+v", b)
	}
}

// instances opens the data n times when the harness allows it (replicas
// sharing a database), else once, n times over.
func instances(t *testing.T, h Harness, n int) []Store {
	o := h.New(t)
	first := open(t, o)
	out := []Store{first}
	for len(out) < n {
		if h.Shared {
			out = append(out, open(t, o))
		} else {
			out = append(out, first)
		}
	}
	return out
}

func testConcurrentIngest(t *testing.T, h Harness) {
	const workers, boxes, perBox = 6, 4, 120
	ss := instances(t, h, 3)
	var all []hqstore.CheckIn
	for b := range boxes {
		for seq := uint64(1); seq <= perBox; seq++ {
			all = append(all, CI(fmt.Sprintf("gate-%d", b), 1, seq, fmt.Sprintf("T%d-%d", b, seq), "ok"))
		}
	}
	// Every worker sends every check-in, in its own shuffled batches, as
	// redeliveries reach different replicas; each worker also admits the
	// shared ticket "X" first-time from a box of its own, once.
	var mu sync.Mutex
	stored := 0
	conflicted := false
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			cs := append([]hqstore.CheckIn(nil), all...)
			rng.Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
			cs = append(cs, CI(fmt.Sprintf("worker-%d", w), 1, 1, "X", "ok"))
			s := ss[w%len(ss)]
			for len(cs) > 0 {
				n := min(len(cs), 1+rng.IntN(60))
				res, err := s.Ingest(cs[:n])
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				stored += res.Stored
				for _, k := range res.Conflicts {
					conflicted = conflicted || k.Ticket == "X"
				}
				mu.Unlock()
				cs = cs[n:]
			}
		})
	}
	wg.Wait()
	want := len(all) + workers
	if stored != want {
		t.Fatalf("stored %d in all, want %d", stored, want)
	}
	if n, _ := ss[0].Count(); n != want {
		t.Fatalf("Count = %d, want %d", n, want)
	}
	if !conflicted {
		t.Error("no ingest reported ticket X's conflict")
	}
	c, err := ss[0].Conflicts("ev")
	if err != nil || len(c) != 1 || c[0].Ticket != "X" || len(c[0].Admissions) != workers {
		t.Fatalf("Conflicts = %+v, %v", c, err)
	}
	for b := range boxes {
		bx := findBox(t, ss[0], fmt.Sprintf("gate-%d", b))
		if bx.Contig[1] != perBox || bx.Max[1] != perBox || len(bx.Gaps) != 0 {
			t.Fatalf("%s: contig %d max %d gaps %v", bx.Box, bx.Contig[1], bx.Max[1], bx.Gaps)
		}
	}
}

func testConcurrentUpdateBox(t *testing.T, h Harness) {
	const workers, each = 4, 25
	ss := instances(t, h, 2)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			s := ss[w%len(ss)]
			for i := range each {
				if err := s.UpdateBox("gate-1", func(b *hqstore.Box) { b.Queued++ }); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Ingest([]hqstore.CheckIn{CI("gate-1", uint64(w+1), uint64(i+1), "t", "reentry")}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b := findBox(t, ss[0], "gate-1"); b.Queued != workers*each {
		t.Fatalf("Queued = %d, want %d: an update was lost", b.Queued, workers*each)
	}
}

func auditEntry(epoch uint32, seq uint64, bad string) hqstore.AuditEntry {
	return hqstore.AuditEntry{Epoch: epoch, Bad: bad, Entry: store.Entry{Seq: seq, At: T0.Add(time.Duration(seq) * time.Second),
		Kind: "decision", Actor: "gate-1", Subject: fmt.Sprintf("nonce-%d", seq), Verdict: "admitted", Reason: "ok",
		Input: "abcd", Detail: "d", Prev: fmt.Sprintf("h%d", seq-1), Hash: fmt.Sprintf("h%d", seq)}}
}

func testAuditChain(t *testing.T, h Harness) {
	o := h.New(t)
	s := o(t)
	var want hqstore.AuditState
	fill(t, &want, 3)
	want.Box = "gate-1"
	var entries []hqstore.AuditEntry
	for seq := uint64(1); seq <= 5; seq++ {
		entries = append(entries, auditEntry(0, seq, ""))
	}
	got, err := s.UpdateAudit("gate-1", func(st *hqstore.AuditState) ([]hqstore.AuditEntry, error) {
		if st.Box != "gate-1" || st.Seq != 0 || st.Broken || len(st.Breaks) != 0 {
			t.Errorf("a new box's audit state is not zero: %+v", *st)
		}
		*st = want
		return entries, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "state UpdateAudit returns", got, want)
	// An error from f stores nothing.
	if _, err := s.UpdateAudit("gate-1", func(st *hqstore.AuditState) ([]hqstore.AuditEntry, error) {
		st.Seq, st.Broken = 99, false
		return []hqstore.AuditEntry{auditEntry(0, 6, "")}, fmt.Errorf("refused")
	}); err == nil {
		t.Fatal("UpdateAudit did not pass on f's error")
	}
	// A kept entry replaces the one HQ held; a new epoch is apart.
	if _, err := s.UpdateAudit("gate-1", func(st *hqstore.AuditState) ([]hqstore.AuditEntry, error) {
		st.Epoch++
		return []hqstore.AuditEntry{auditEntry(0, 3, hqstore.BreakRelinked), auditEntry(st.Epoch, 1, "")}, nil
	}); err != nil {
		t.Fatal(err)
	}
	want.Epoch++
	entries[2].Bad = hqstore.BreakRelinked
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, o)
	states, err := s.AuditStates()
	if err != nil || len(states) != 1 {
		t.Fatalf("AuditStates = %v, %v", states, err)
	}
	sameJSON(t, "audit state after reopen", states["gate-1"], want)
	for _, c := range []struct {
		epoch        uint32
		after        uint64
		limit        int
		wantFrom, to int // entries[wantFrom:to]
	}{{0, 0, 100, 0, 5}, {0, 1, 2, 1, 3}, {0, 5, 10, 5, 5}, {0, 0, 0, 0, 0}} {
		es, err := s.AuditEntries("gate-1", c.epoch, c.after, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		if c.wantFrom == c.to {
			if len(es) != 0 {
				t.Fatalf("AuditEntries(epoch %d, after %d, limit %d) = %d entries, want none", c.epoch, c.after, c.limit, len(es))
			}
			continue
		}
		sameJSON(t, fmt.Sprintf("AuditEntries(epoch %d, after %d, limit %d)", c.epoch, c.after, c.limit), es, entries[c.wantFrom:c.to])
	}
	if es, _ := s.AuditEntries("gate-1", want.Epoch, 0, 10); len(es) != 1 || es[0].Epoch != want.Epoch {
		t.Fatalf("entries of the new epoch: %+v", es)
	}
	if es, _ := s.AuditEntries("gate-2", 0, 0, 10); len(es) != 0 {
		t.Fatalf("entries of a box HQ has none of: %+v", es)
	}
	cleared, err := s.ClearAuditBreak("gate-1", "ops-7", T0.Add(2*time.Hour))
	if err != nil || cleared.Broken || cleared.ClearedBy != "ops-7" || !cleared.ClearedAt.Equal(T0.Add(2*time.Hour)) ||
		len(cleared.Breaks) != len(want.Breaks) {
		t.Fatalf("ClearAuditBreak = %+v, %v", cleared, err)
	}
}

func testConcurrentUpdateAudit(t *testing.T, h Harness) {
	const workers, each = 4, 20
	ss := instances(t, h, 2)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				if _, err := ss[w%len(ss)].UpdateAudit("gate-1", func(st *hqstore.AuditState) ([]hqstore.AuditEntry, error) {
					st.Seq++
					st.Entries++
					return []hqstore.AuditEntry{auditEntry(0, st.Seq, "")}, nil
				}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	states, err := ss[0].AuditStates()
	if err != nil || states["gate-1"].Seq != workers*each || states["gate-1"].Entries != workers*each {
		t.Fatalf("AuditStates = %+v, %v: an update was lost", states, err)
	}
	if es, _ := ss[0].AuditEntries("gate-1", 0, 0, 1000); len(es) != workers*each {
		t.Fatalf("%d entries, want %d", len(es), workers*each)
	}
}

// testUndoCancelsTheAdmission: staff undid an admission (the person did
// not pass) and the ticket entered later: one admission, no conflict,
// whether the undo comes after the admission, before it, or in its batch.
func testUndoCancelsTheAdmission(t *testing.T, h Harness) {
	for _, order := range []string{"after", "before", "same batch"} {
		t.Run(order, func(t *testing.T) {
			s := open(t, h.New(t))
			first := CI("gate-1", 1, 1, "T1", "ok")
			undo := CI("gate-1", 1, 2, "T1", "undo")
			undo.Verdict, undo.Staff, undo.Note = "rejected", "s1", "undo "+first.Nonce+": turnstile jammed"
			again := CI("gate-1", 1, 3, "T1", "ok")
			switch order {
			case "after":
				ingest(t, s, first)
				ingest(t, s, undo)
			case "before":
				ingest(t, s, undo)
				ingest(t, s, first)
			default:
				ingest(t, s, first, undo)
			}
			if res := ingest(t, s, again); len(res.Conflicts) != 0 {
				t.Fatalf("re-entry after an undo reported as a conflict: %v", res.Conflicts)
			}
			if c, err := s.Conflicts("ev"); err != nil || len(c) != 0 {
				t.Fatalf("conflicts %+v %v", c, err)
			}
			// A second admission at another gate is a conflict again.
			if res := ingest(t, s, CI("gate-2", 1, 1, "T1", "ok")); len(res.Conflicts) != 1 {
				t.Fatalf("conflicts after a second gate admitted: %v", res.Conflicts)
			}
		})
	}
}
