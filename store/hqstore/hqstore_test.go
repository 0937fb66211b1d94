package hqstore

import (
	"fmt"
	"io"
	"log/slog"
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
