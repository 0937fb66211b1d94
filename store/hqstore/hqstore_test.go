package hqstore

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func open(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Error(err)
		}
		s.Close()
	})
	return s
}

var t0 = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

func ci(box string, boot, seq uint64, ticket, reason string) CheckIn {
	v := "admitted"
	if reason == "already-used" {
		v = "rejected"
	}
	return CheckIn{Nonce: fmt.Sprintf("%s-%d-%d", box, boot, seq), Box: box, Boot: boot, Seq: seq,
		Event: "ev", Ticket: ticket, Verdict: v, Reason: reason, At: t0.Add(time.Duration(seq) * time.Second)}
}

func TestIngest_exactlyOnceAgainstModel(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	s := open(t, filepath.Join(t.TempDir(), "hq.db"))
	var all []CheckIn
	for _, box := range []string{"gate-1", "gate-2", "gate-10"} {
		for seq := uint64(1); seq <= 300; seq++ {
			all = append(all, ci(box, 1, seq, fmt.Sprintf("%s-t%d", box, seq), "ok"))
		}
	}
	model := map[string]bool{}
	for range 200 {
		// A batch of random check-ins, some of them already sent.
		n := 1 + rng.IntN(40)
		batch := make([]CheckIn, n)
		wantNew := 0
		seen := map[string]bool{}
		for i := range batch {
			batch[i] = all[rng.IntN(len(all))]
			if !model[batch[i].Nonce] && !seen[batch[i].Nonce] {
				wantNew++
			}
			seen[batch[i].Nonce] = true
		}
		res, err := s.Ingest(batch)
		if err != nil {
			t.Fatal(err)
		}
		if res.Stored != wantNew || res.Stored+res.Duplicates != n {
			t.Fatalf("Ingest: stored %d dup %d, want %d new of %d", res.Stored, res.Duplicates, wantNew, n)
		}
		for k := range seen {
			model[k] = true
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
	// Gaps: everything not in the model below each box's max.
	boxes, err := s.Boxes()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range boxes {
		var want []Gap
		next := uint64(1)
		for seq := uint64(1); seq <= b.Max[1]; seq++ {
			if model[fmt.Sprintf("%s-1-%d", b.Box, seq)] {
				if seq > next {
					want = append(want, Gap{1, next, seq - 1})
				}
				next = seq + 1
			}
		}
		if len(want) > maxGaps {
			want = want[:maxGaps]
		}
		if fmt.Sprint(want) != fmt.Sprint(b.Gaps) {
			t.Fatalf("%s gaps = %v, want %v", b.Box, b.Gaps, want)
		}
	}
	if c, err := s.Conflicts("ev"); err != nil || len(c) != 0 {
		t.Fatalf("Conflicts = %v, %v", c, err)
	}
}

func TestIngest_conflicts(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "hq.db"))
	res, err := s.Ingest([]CheckIn{
		ci("gate-1", 1, 1, "T1", "ok"),
		ci("gate-1", 1, 2, "T2", "ok"),
		ci("gate-2", 1, 1, "T2", "already-used"), // gates in step: no conflict
		ci("gate-2", 1, 2, "T3", "ok"),
	})
	if err != nil || len(res.Conflicts) != 0 {
		t.Fatalf("first ingest: %+v %v", res, err)
	}
	res, err = s.Ingest([]CheckIn{ci("gate-2", 1, 3, "T1", "ok"), ci("gate-1", 1, 3, "T3", "reentry")})
	if err != nil || len(res.Conflicts) != 1 || res.Conflicts[0].Ticket != "T1" {
		t.Fatalf("second ingest: %+v %v", res, err)
	}
	c, err := s.Conflicts("ev")
	if err != nil || len(c) != 1 || c[0].Ticket != "T1" || len(c[0].Admissions) != 2 ||
		c[0].Admissions[0].Box != "gate-1" || c[0].Admissions[1].Box != "gate-2" {
		t.Fatalf("Conflicts = %+v, %v", c, err)
	}
	if c, _ := s.Conflicts("other"); len(c) != 0 {
		t.Fatalf("other event has conflicts %v", c)
	}
}

func TestIngest_gapAcrossBoots(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "hq.db"))
	// Boot 2 continues boot 1's numbering; boot 3 restarts at 1.
	in := []CheckIn{ci("b", 1, 1, "a", "ok"), ci("b", 1, 2, "b", "ok"), ci("b", 2, 3, "c", "ok"),
		ci("b", 2, 5, "d", "ok"), ci("b", 3, 1, "e", "ok")}
	res, err := s.Ingest(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(res.Gaps["b"]); got != "[{2 4 4}]" {
		t.Fatalf("gaps = %s", got)
	}
	res, err = s.Ingest([]CheckIn{ci("b", 2, 4, "f", "ok")})
	if err != nil || len(res.Gaps["b"]) != 0 {
		t.Fatalf("gaps after fill = %v, %v", res.Gaps, err)
	}
}

func TestIngest_refusesIncomplete(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "hq.db"))
	if _, err := s.Ingest([]CheckIn{ci("b", 1, 1, "a", "ok"), {Box: "b", Seq: 2}}); err == nil {
		t.Fatal("accepted a check-in without nonce")
	}
	if n, _ := s.Count(); n != 0 {
		t.Fatalf("partial batch written: %d", n)
	}
}

func TestUpdateBox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hq.db")
	s, err := Open(path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateBox("gate-1", func(b *Box) { b.Online, b.Queued = true, 7 }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path)
	bs, err := s.Boxes()
	if err != nil || len(bs) != 1 || !bs[0].Online || bs[0].Queued != 7 {
		t.Fatalf("Boxes = %+v, %v", bs, err)
	}
}

// TestKillAndReopen runs a child process that ingests until it is killed,
// then checks that the store opens, is consistent, and that every batch the
// child reported as committed is there.
func TestKillAndReopen(t *testing.T) {
	if os.Getenv("HQSTORE_CHILD") != "" {
		child(os.Getenv("HQSTORE_CHILD"))
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "hq.db")
	progress := filepath.Join(dir, "progress")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillAndReopen$")
	cmd.Env = append(os.Environ(), "HQSTORE_CHILD="+path)
	out, err := os.Create(progress)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _ := os.Stat(progress)
		if st != nil && st.Size() > 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // killed on purpose
	out.Close()
	raw, err := os.ReadFile(progress)
	if err != nil {
		t.Fatal(err)
	}
	committed := 0
	for _, line := range splitLines(string(raw)) {
		if n, err := strconv.Atoi(line); err == nil {
			committed = n
		}
	}
	if committed == 0 {
		t.Fatalf("child committed nothing before the kill: %q", raw)
	}
	s := open(t, path)
	n, err := s.Count()
	if err != nil {
		t.Fatal(err)
	}
	if n < committed*10 {
		t.Fatalf("store holds %d check-ins, child had committed %d", n, committed*10)
	}
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func child(path string) {
	s, err := Open(path, quiet())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for i := 1; ; i++ {
		batch := make([]CheckIn, 10)
		for j := range batch {
			batch[j] = ci("gate-1", 1, uint64((i-1)*10+j+1), "t", "reentry")
		}
		if _, err := s.Ingest(batch); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(i)
	}
}

func BenchmarkIngest(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "hq.db"), quiet())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const batch = 500
	seq := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		cs := make([]CheckIn, batch)
		for j := range cs {
			seq++
			cs[j] = ci("gate-1", 1, seq, "t"+strconv.FormatUint(seq, 10), "ok")
		}
		if _, err := s.Ingest(cs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "checkins/s")
}
