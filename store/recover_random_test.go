package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestOpenChecked_child is the box at start, in a process of its own: it
// opens the store through OpenChecked and checks what it got. It runs only
// when TestOpenChecked_randomDamage starts it.
func TestOpenChecked_child(t *testing.T) {
	path := os.Getenv("VENUEBOX_RECOVER_CHILD")
	if path == "" {
		t.Skip("started by TestOpenChecked_randomDamage")
	}
	s, rec, err := OpenChecked(path, testBox)
	if err != nil {
		fmt.Printf("ERROR open: %v\n", err)
		os.Exit(5)
	}
	defer s.Close()
	report := struct {
		Recovered bool     `json:"recovered"`
		Nonces    []string `json:"nonces"`
		Queued    int      `json:"queued"`
		Problem   string   `json:"problem,omitempty"`
	}{Recovered: rec != nil}
	if rec != nil {
		report.Problem = rec.Problem.Error()
	}
	if err := s.Check(); err != nil {
		fmt.Printf("ERROR check after open: %v\n", err)
		os.Exit(6)
	}
	if _, err := s.VerifyAudit(); err != nil && rec != nil {
		fmt.Printf("ERROR audit after recovery: %v\n", err)
		os.Exit(7)
	}
	cs, err := s.CheckIns(1 << 20)
	if err != nil {
		fmt.Printf("ERROR check-ins: %v\n", err)
		os.Exit(8)
	}
	for _, c := range cs {
		report.Nonces = append(report.Nonces, c.Nonce)
	}
	report.Queued, _ = s.Queued()
	// A decision must be recordable.
	if _, err := s.Admit(Presented{Input: []byte("after"), Gate: "gate-1"}, admitFirst); err != nil {
		fmt.Printf("ERROR admit: %v\n", err)
		os.Exit(9)
	}
	b, _ := json.Marshal(report)
	fmt.Printf("REPORT %s\n", b)
}

// TestOpenChecked_randomDamage damages random pages of a real store in
// random ways (seeded; the seed is printed, though the store's own random
// nonces differ from run to run) and starts the box on each, in
// a child process as systemd would, again if it dies: within two starts the
// box must come up with a sound store that takes decisions, holding only
// check-ins that were recorded, and, when nothing was wrong with the data it
// read, all of them.
func TestOpenChecked_randomDamage(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("VENUEBOX_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("seed %d (VENUEBOX_SEED=%d to repeat)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	base := filepath.Join(t.TempDir(), "base.db")
	recorded := nonces(fillStore(t, base, 300))
	clean, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	const ps = 4096
	pages := len(clean) / ps
	rounds := 25
	if s := os.Getenv("VENUEBOX_ROUNDS"); s != "" {
		fmt.Sscan(s, &rounds)
	}
	crashes, recoveries := 0, 0
	for round := range rounds {
		data := slices.Clone(clean)
		what := ""
		for range 1 + rng.IntN(3) {
			id := 2 + rng.IntN(pages-2)
			if rng.IntN(8) == 0 {
				id = rng.IntN(2) // a meta page
			}
			page := data[id*ps : (id+1)*ps]
			switch rng.IntN(4) {
			case 0: // torn write: the page's second half is zeros
				clear(page[ps/2:])
				what += fmt.Sprintf(" torn %d", id)
			case 1: // random bytes over the header and elements
				for i := range 64 {
					page[i] = byte(rng.Uint32())
				}
				what += fmt.Sprintf(" header %d", id)
			case 2: // a whole page of garbage
				for i := range page {
					page[i] = byte(rng.Uint32())
				}
				what += fmt.Sprintf(" garbage %d", id)
			default: // a few flipped bits anywhere in the page
				for range 1 + rng.IntN(8) {
					page[rng.IntN(ps)] ^= 1 << rng.IntN(8)
				}
				what += fmt.Sprintf(" bits %d", id)
			}
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "box.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var out []byte
		started := 0
		for started < 2 {
			started++
			cmd := exec.Command(os.Args[0], "-test.run=^TestOpenChecked_child$", "-test.v")
			cmd.Env = append(os.Environ(), "VENUEBOX_RECOVER_CHILD="+path)
			out, err = cmd.CombinedOutput()
			if err == nil && bytes.Contains(out, []byte("REPORT ")) {
				break
			}
			crashes++
			t.Logf("round %d (%s): start %d died: %v\n%s", round, what, started, err, tail(out))
		}
		i := bytes.Index(out, []byte("REPORT "))
		if i < 0 {
			t.Errorf("round %d (%s): the box did not come up in %d starts", round, what, started)
			continue
		}
		var report struct {
			Recovered bool
			Nonces    []string
			Queued    int
			Problem   string
		}
		line, _, _ := bytes.Cut(out[i+len("REPORT "):], []byte("\n"))
		if err := json.Unmarshal(line, &report); err != nil {
			t.Fatalf("round %d: %v: %s", round, err, line)
		}
		if report.Recovered {
			recoveries++
		}
		// By key (boot and sequence, the nonce's first half): a flipped
		// bit in a nonce's random part cannot be seen (bbolt keeps no
		// checksum of values), one in its key is.
		for _, n := range report.Nonces {
			if !slices.ContainsFunc(recorded, func(r string) bool { return r[:32] == n[:32] }) {
				t.Errorf("round %d (%s): check-in %s was never recorded", round, what, n)
			}
		}
		if !report.Recovered && len(report.Nonces) != len(recorded) {
			t.Errorf("round %d (%s): no recovery, yet %d of %d check-ins", round, what, len(report.Nonces), len(recorded))
		}
	}
	t.Logf("%d rounds: %d recoveries, %d starts that died and were started again", rounds, recoveries, crashes)
}

func tail(b []byte) []byte {
	if i := bytes.Index(b, []byte("fatal error")); i >= 0 {
		return b[i:min(len(b), i+3000)]
	}
	if len(b) > 2000 {
		return b[len(b)-2000:]
	}
	return b
}
