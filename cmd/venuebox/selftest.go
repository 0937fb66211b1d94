package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"venuebox/cmd/internal/box"
	"venuebox/cmd/internal/gate"
	"venuebox/cmd/internal/ticket"
	"venuebox/cmd/internal/version"
	"venuebox/store"
)

func init() {
	commands["selftest"] = command{summary: "check keys, the store, a decision and a reopen on this machine", run: runSelftest}
}

// selftestID is the identity of the selftest's throwaway store.
var selftestID = store.Identity{Org: "selftest", Venue: "selftest", Box: "selftest"}

func runSelftest(args []string, stdout, stderr io.Writer) int {
	f := newFlags("selftest", "[-dir DIR]",
		"Runs, in a fresh folder it removes afterwards, what a gate does: makes an Ed25519 key,\n"+
			"signs and verifies a ticket (and refuses an altered one), opens a store, applies a manifest,\n"+
			"decides and records scans, closes, reopens through the consistency check, checks the audit\n"+
			"chain. One line per check; exit 0 when all pass, 1 when one fails. Run it on a new box, or\n"+
			"with -dir on the state partition to time its fsync'd commits.")
	dir := f.String("dir", "", "make the throwaway folder inside this `directory` (default: the system's temporary folder)")
	if code, ok := f.parse(args, stdout, stderr); !ok {
		return code
	}
	if f.NArg() > 0 {
		return f.fail(stderr, exitUsage, fmt.Errorf("unexpected argument %q", f.Arg(0)))
	}
	work, err := os.MkdirTemp(*dir, "venuebox-selftest-")
	if err != nil {
		return f.fail(stderr, exitFail, err)
	}
	defer os.RemoveAll(work)
	fmt.Fprintf(stdout, "venuebox selftest: %s in %s\n", version.String("venuebox"), work)
	st := &selftest{dir: work, out: stdout}
	st.run("keys", st.keys)
	st.run("store", st.store)
	st.run("decision", st.decision)
	st.run("reopen", st.reopen)
	if st.failed > 0 {
		fmt.Fprintf(stdout, "selftest: %d of %d checks failed\n", st.failed, st.n)
		return exitFail
	}
	fmt.Fprintf(stdout, "selftest: all %d checks passed\n", st.n)
	return exitOK
}

// selftest holds what one check leaves for the next.
type selftest struct {
	dir       string
	out       io.Writer
	n, failed int
	skip      bool // an earlier check failed: the later ones have nothing to work on

	priv  ed25519.PrivateKey
	trust *ticket.Keyring
	codes []string
	raw   []byte // the signed manifest
	path  string // the store
	boot  uint64
	seen  int // check-ins recorded
}

// run runs one check and prints its line.
func (s *selftest) run(name string, check func() (string, error)) {
	s.n++
	start := time.Now()
	var detail string
	err := errors.New("skipped: an earlier check failed")
	if !s.skip {
		detail, err = check()
	}
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		s.failed++
		s.skip = true
		fmt.Fprintf(s.out, "FAIL  %-8s %s\n", name, strings.ReplaceAll(err.Error(), "\n", "; "))
		return
	}
	fmt.Fprintf(s.out, "ok    %-8s %s (%v)\n", name, detail, took)
}

func (s *selftest) keys() (string, error) {
	id, err := ticket.GenerateKey(s.dir)
	if err != nil {
		return "", err
	}
	priv, err := ticket.LoadPrivateKey(filepath.Join(s.dir, ticket.PrivateKeyFile))
	if err != nil {
		return "", err
	}
	pub, err := ticket.LoadPublicKey(filepath.Join(s.dir, ticket.PublicKeyFile))
	if err != nil {
		return "", err
	}
	s.priv, s.trust = priv, ticket.NewKeyring(pub)
	code, err := ticket.Sign(priv, ticket.Claims{Event: box.DemoEvent, Number: 1})
	if err != nil {
		return "", err
	}
	if _, err := s.trust.Verify(code); err != nil {
		return "", fmt.Errorf("a ticket just signed does not verify: %w", err)
	}
	altered := []byte(code)
	i := len(altered) / 2
	if altered[i] == 'A' {
		altered[i] = 'B'
	} else {
		altered[i] = 'A'
	}
	if _, err := s.trust.Verify(string(altered)); err == nil {
		return "", errors.New("an altered ticket verifies")
	}
	return fmt.Sprintf("key %s generated; a ticket signed and verified, an altered one refused", id), nil
}

func (s *selftest) store() (string, error) {
	s.codes, s.raw = nil, nil
	codes, raw, err := box.DemoManifest(s.priv, 50)
	if err != nil {
		return "", err
	}
	s.codes, s.raw = codes, raw
	s.path = filepath.Join(s.dir, "state", box.StoreFile)
	st, rec, err := store.OpenChecked(s.path, selftestID)
	if err != nil {
		return "", err
	}
	if rec != nil {
		st.Close()
		return "", fmt.Errorf("a new store needed a recovery: %v", rec.Problem)
	}
	b, err := box.New(box.Options{Store: st, Trust: s.trust, Policy: selftestPolicy()})
	if err != nil {
		st.Close()
		return "", err
	}
	if err := b.ApplyManifest(raw); err != nil {
		st.Close()
		return "", err
	}
	// Five admissions, each one fsync'd commit: their time is what the
	// card gives a gate.
	start := time.Now()
	for _, c := range codes[:5] {
		v, err := b.Present(context.Background(), box.Code, c)
		if err != nil {
			st.Close()
			return "", err
		}
		if v.Verdict != "admitted" {
			st.Close()
			return "", fmt.Errorf("ticket %s: %s %s, want admitted", v.Ticket, v.Verdict, v.Reason)
		}
	}
	per := time.Since(start) / 5
	s.seen = 5
	s.boot = st.Boot()
	if err := st.Close(); err != nil {
		return "", err
	}
	return fmt.Sprintf("created, manifest of %d tickets applied, 5 admissions recorded (%v each, fsync'd), closed", len(codes), per.Round(10*time.Microsecond)), nil
}

func (s *selftest) decision() (string, error) {
	st, err := store.Open(s.path, selftestID)
	if err != nil {
		return "", err
	}
	defer st.Close()
	b, err := box.New(box.Options{Store: st, Trust: s.trust, Policy: selftestPolicy()})
	if err != nil {
		return "", err
	}
	forged, err := ticket.Sign(otherKey(), ticket.Claims{Event: box.DemoEvent, Number: 7})
	if err != nil {
		return "", err
	}
	for _, tc := range []struct{ code, verdict, reason string }{
		{s.codes[10], "admitted", "ok"},
		{s.codes[0], "rejected", "already-used"}, // admitted before the close
		{forged, "rejected", "unknown-key"},
		{"CRM-NOT-ISSUED", "rejected", "unknown"},
	} {
		v, err := b.Present(context.Background(), box.Code, tc.code)
		if err != nil {
			return "", err
		}
		if v.Verdict != tc.verdict || v.Reason != tc.reason {
			return "", fmt.Errorf("%s: %s %s, want %s %s", ticket.LogID(tc.code), v.Verdict, v.Reason, tc.verdict, tc.reason)
		}
		s.seen++
	}
	return "admitted ok; used before the reopen: already-used; another key's: unknown-key; not issued: unknown", nil
}

func (s *selftest) reopen() (string, error) {
	st, rec, err := store.OpenChecked(s.path, selftestID)
	if err != nil {
		return "", err
	}
	defer st.Close()
	if rec != nil {
		return "", fmt.Errorf("consistency check failed: %v", rec.Problem)
	}
	if st.Boot() != s.boot+2 {
		return "", fmt.Errorf("boot %d after two more opens, want %d", st.Boot(), s.boot+2)
	}
	cs, err := st.CheckIns(100)
	if err != nil {
		return "", err
	}
	if len(cs) != s.seen {
		return "", fmt.Errorf("%d check-ins after the reopen, want %d", len(cs), s.seen)
	}
	if q, err := st.Queued(); err != nil || q != s.seen {
		return "", fmt.Errorf("outbox holds %d (%v), want %d", q, err, s.seen)
	}
	if err := st.Check(); err != nil {
		return "", fmt.Errorf("consistency check: %w", err)
	}
	n, err := st.VerifyAudit()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("consistency check passed, boot %d, %d check-ins and outbox kept, audit chain of %d entries verifies", st.Boot(), len(cs), n), nil
}

func selftestPolicy() gate.Policy {
	return gate.Policy{DoubleScanWindow: 3 * time.Second, FeverC: 37.3, ClockSkew: 5 * time.Minute}
}

// otherKey returns a key the selftest's keyring does not trust.
func otherKey() ed25519.PrivateKey {
	_, priv, _ := ed25519.GenerateKey(nil) // crypto/rand never fails
	return priv
}
