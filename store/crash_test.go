package store

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The crash child: when VENUEBOX_CRASH_STORE is set, the test binary opens
// that store, admits tickets in a loop and reports each admission on
// stdout only after Admit returned, as the box signals only after it.
func TestMain(m *testing.M) {
	if path := os.Getenv("VENUEBOX_CRASH_STORE"); path != "" {
		crashChild(path)
		return
	}
	os.Exit(m.Run())
}

func crashChild(path string) {
	s, err := Open(path, testBox)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	fmt.Println("ready")
	for i := 1; ; i++ {
		code := fmt.Sprintf("code-ev1-%d", i%2000+1)
		r, err := s.Admit(Presented{Input: []byte(code), CodeHash: code, Gate: "gate-1"}, admitFirst)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(4)
		}
		if r.CheckIn.Verdict == "admitted" {
			fmt.Printf("admitted %s %s\n", r.CheckIn.Ticket, r.CheckIn.Nonce)
		}
	}
}

// TestAdmit_survivesSIGKILL kills a child admitting in a loop at random
// moments: every admission it reported is in the store after reopening,
// no ticket is admitted twice, the audit chain verifies and bbolt's
// consistency check passes.
func TestAdmit_survivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "box.db")
	s, err := Open(path, testBox)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyManifest(snapshot("ev1", 1, 2000)); err != nil {
		t.Fatal(err)
	}
	s.Close()

	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	reported := map[string]string{} // nonce → ticket
	for round := range 8 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "VENUEBOX_CRASH_STORE="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		if !lines.Scan() || lines.Text() != "ready" {
			cmd.Wait()
			t.Fatalf("round %d: child did not start: %s", round, stderr.String())
		}
		kill := time.AfterFunc(time.Duration(20+rng.IntN(300))*time.Millisecond, func() { cmd.Process.Kill() })
		for lines.Scan() {
			f := strings.Fields(lines.Text())
			if len(f) == 3 && f[0] == "admitted" {
				reported[f[2]] = f[1]
			}
		}
		kill.Stop()
		cmd.Process.Kill()
		cmd.Wait()
		if strings.TrimSpace(stderr.String()) != "" {
			t.Fatalf("round %d: child failed: %s", round, stderr.String())
		}
	}
	if len(reported) == 0 {
		t.Fatal("the children reported no admission")
	}

	s = openTest(t, path)
	all, err := s.CheckIns(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]CheckIn{}
	perTicket := map[string]int{}
	for _, c := range all {
		stored[c.Nonce] = c
		if c.Verdict == "admitted" {
			perTicket[c.Ticket]++
		}
	}
	for nonce, ticket := range reported {
		c, ok := stored[nonce]
		if !ok || c.Verdict != "admitted" || c.Ticket != ticket {
			t.Fatalf("reported admission of ticket %s (%s) is not in the store: %+v", ticket, nonce, c)
		}
	}
	for ticket, n := range perTicket {
		if n > 1 {
			t.Fatalf("ticket %s admitted %d times", ticket, n)
		}
	}
	if q, _ := s.Queued(); q != len(all) {
		t.Fatalf("queued %d, want every check-in (%d)", q, len(all))
	}
	if _, err := s.VerifyAudit(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d admissions reported over 8 kills, %d check-ins stored", len(reported), len(all))
}
