package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// fillStore makes a store at path as a gate leaves it after a morning:
// a 3000-ticket cache, n check-ins (the first half admitted, the rest
// already-used), two acknowledged by HQ, a revocation and a peer's
// admission. It returns the check-ins, newest first.
func fillStore(t *testing.T, path string, n int) []CheckIn {
	t.Helper()
	s, err := Open(path, testBox)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.ApplyManifest(snapshot("ev1", 1, 3000)); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		code := fmt.Sprintf("code-ev1-%d", i%(n/2+1)+1)
		if _, err := s.Admit(Presented{Input: []byte(code), CodeHash: code, Gate: "gate-1"}, admitFirst); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := s.CheckIns(n)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(cs[0].Nonce, cs[1].Nonce); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke("ev1", "2999"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddPeer(CheckIn{Nonce: "peer-1", Box: "gate-2", Gate: "gate-2", Event: "ev1", Ticket: "2998",
		Verdict: "admitted", Reason: "ok", At: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	return cs
}

// damagePage overwrites the header and first elements of a page the store
// uses that holds want and not avoid, choosing the candidate nearest the
// middle of those whose damage bbolt's check notices, and returns its id.
func damagePage(t *testing.T, path, want, avoid string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const ps = 4096
	var candidates []int
	for id := 2; (id+1)*ps <= len(data); id++ {
		page := data[id*ps : (id+1)*ps]
		if page[8]&0x02 != 0 && bytes.Contains(page, []byte(want)) && (avoid == "" || !bytes.Contains(page, []byte(avoid))) {
			candidates = append(candidates, id)
		}
	}
	// Nearest the middle first: a damaged page in the middle of a bucket
	// is the hard case for salvage.
	mid := len(candidates) / 2
	slices.SortStableFunc(candidates, func(a, b int) int {
		return abs(slices.Index(candidates, a)-mid) - abs(slices.Index(candidates, b)-mid)
	})
	for _, id := range candidates {
		bad := slices.Clone(data)
		page := bad[id*ps : (id+1)*ps]
		page[8], page[9] = 0x40, 0x00 // no known page type
		for i := 16; i < 96; i++ {
			page[i] = 0xA5
		}
		try := filepath.Join(t.TempDir(), "try.db")
		if err := os.WriteFile(try, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := openReadOnly(try)
		if err != nil {
			t.Fatal(err)
		}
		problem := boltCheck(db)
		db.Close()
		if problem != nil {
			if err := os.WriteFile(path, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			return id
		}
	}
	t.Fatalf("no page holding %q whose damage bbolt notices (of %d candidates)", want, len(candidates))
	return 0
}

func abs(x int) int { return max(x, -x) }

func nonces(cs []CheckIn) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Nonce)
	}
	slices.Sort(out)
	return out
}

func TestOpenChecked_healthy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "box.db")
	s, rec, err := OpenChecked(path, testBox)
	if err != nil || rec != nil {
		t.Fatalf("new store: rec %+v, err %v", rec, err)
	}
	s.Close()
	s, rec, err = OpenChecked(path, testBox)
	if err != nil || rec != nil {
		t.Fatalf("reopen: rec %+v, err %v", rec, err)
	}
	defer s.Close()
	if s.Boot() != 2 {
		t.Errorf("boot %d, want 2", s.Boot())
	}
	if _, err := os.Stat(path + ".checking"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the check's marker is left behind: %v", err)
	}
}

func TestOpenChecked_damagedCacheKeepsCheckIns(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "box.db")
	before := fillStore(t, path, 40)
	page := damagePage(t, path, `"code_hash"`, `"box"`)
	t.Logf("damaged page %d of the ticket cache", page)

	s, rec, err := OpenChecked(path, testBox)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if rec == nil {
		t.Fatal("damage not detected")
	}
	t.Logf("recovery: %+v", rec)
	if rec.CheckIns != 40 || rec.Queued != 38 || rec.Peers != 1 || rec.Revoked != 1 || !rec.Complete || rec.LastBoot != 1 {
		t.Errorf("recovery %+v: want 40 check-ins, 38 queued, 1 peer, 1 revoked, complete, last boot 1", rec)
	}
	if !strings.HasPrefix(filepath.Base(rec.MovedTo), "box.db.damaged-") {
		t.Errorf("moved to %q", rec.MovedTo)
	} else if _, err := os.Stat(rec.MovedTo); err != nil {
		t.Errorf("damaged file not kept aside: %v", err)
	}
	after, err := s.CheckIns(100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(nonces(after), nonces(before)) {
		t.Errorf("check-ins after recovery differ:\n got %v\nwant %v", nonces(after), nonces(before))
	}
	pending, err := s.Pending(100)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 38 || slices.Contains(nonces(pending), before[0].Nonce) {
		t.Errorf("outbox after recovery: %d entries (want the 38 HQ had not acknowledged)", len(pending))
	}
	if q, _ := s.Queued(); q != 38 {
		t.Errorf("queued %d, want 38", q)
	}
	if s.Boot() != 2 {
		t.Errorf("boot %d, want 2: a rebuilt store goes on above the old boot", s.Boot())
	}
	if err := s.Check(); err != nil {
		t.Errorf("rebuilt store: %v", err)
	}
	n, err := s.VerifyAudit()
	if err != nil {
		t.Errorf("audit chain after recovery: %v", err)
	}
	log, _ := s.AuditLog(0, n)
	if len(log) < 2 || log[len(log)-2].Kind != "recover" || !strings.Contains(log[len(log)-2].Detail, "kept 40 check-ins") {
		t.Errorf("no recover entry before the boot entry: %+v", log[max(0, len(log)-2):])
	}

	// The cache comes back from the manifest; what was used stays used,
	// what was revoked stays revoked.
	if err := s.ApplyManifest(snapshot("ev1", 1, 3000)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ code, reason string }{
		{"code-ev1-1", "already-used"}, {"code-ev1-2998", "already-used"}, {"code-ev1-2000", "ok"},
	} {
		r, err := s.Admit(Presented{Input: []byte(tc.code), CodeHash: tc.code, Gate: "gate-1"}, admitFirst)
		if err != nil {
			t.Fatal(err)
		}
		if r.CheckIn.Reason != tc.reason {
			t.Errorf("%s after recovery: %s, want %s", tc.code, r.CheckIn.Reason, tc.reason)
		}
	}
	if revoked, _ := s.Revoked("ev1", "2999"); !revoked {
		t.Error("revocation lost")
	}
	if c, _ := s.Counts(); c.Admitted != 22 || c.Rejected != 21 {
		t.Errorf("counts after recovery and three scans %+v, want 22 admitted, 21 rejected", c)
	}
}

func TestOpenChecked_damagedCheckInsKeepsTheRest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "box.db")
	before := fillStore(t, path, 400)
	damagePage(t, path, `"box":"gate-1"`, `"code_hash"`)

	s, rec, err := OpenChecked(path, testBox)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if rec == nil {
		t.Fatal("damage not detected")
	}
	t.Logf("recovery: %+v", rec)
	if rec.Complete || rec.CheckIns >= 400 || rec.CheckIns < 300 {
		t.Errorf("recovery %+v: want most but not all of 400 check-ins, incomplete", rec)
	}
	after, err := s.CheckIns(400)
	if err != nil {
		t.Fatal(err)
	}
	all := nonces(before)
	for _, n := range nonces(after) {
		if _, found := slices.BinarySearch(all, n); !found {
			t.Errorf("check-in %s after recovery was never recorded", n)
		}
	}
	if q, _ := s.Queued(); q < len(after)-2 {
		t.Errorf("queued %d of %d kept: the outbox lost check-ins HQ never acknowledged", q, len(after))
	}
	if err := s.Check(); err != nil {
		t.Errorf("rebuilt store: %v", err)
	}
	if _, err := s.VerifyAudit(); err != nil {
		t.Errorf("audit chain after recovery: %v", err)
	}
}

func TestOpenChecked_fileThatWillNotOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "box.db")
	fillStore(t, path, 4)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 * 4096 { // both meta pages
		data[i] ^= 0x5A
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s, rec, err := OpenChecked(path, testBox)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// No meta page, so no tree: the check-ins are carved out of the leaf
	// pages, every one queued again (which HQ had is unknown; it drops
	// what it has), and the boot counter with them.
	if rec == nil || !strings.Contains(rec.Problem.Error(), "does not open") || rec.CheckIns != 4 || rec.Queued != 4 ||
		rec.Peers != 1 || rec.Complete || rec.LastBoot != 1 {
		t.Fatalf("recovery %+v", rec)
	}
	if s.Boot() != 2 {
		t.Errorf("boot %d, want 2", s.Boot())
	}
	if _, err := os.Stat(rec.MovedTo); err != nil {
		t.Errorf("damaged file not kept aside: %v", err)
	}
	if _, err := s.VerifyAudit(); err != nil {
		t.Error(err)
	}
}

func TestOpenChecked_lockedIsNotDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "box.db")
	openTest(t, path) // held open until the test ends
	_, rec, err := OpenChecked(path, testBox)
	if err == nil || rec != nil {
		t.Fatalf("opening a held store: rec %+v, err %v; want an error and no recovery", rec, err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("a held store was moved: %v", err)
	}
}

func TestOpenChecked_checkThatDidNotFinish(t *testing.T) {
	path := filepath.Join(t.TempDir(), "box.db")
	fillStore(t, path, 4)
	// The marker of a check that crashed the process (or of a power cut
	// during it): the next start recovers without checking again.
	damagePage(t, path, `"code_hash"`, `"box"`)
	if err := os.WriteFile(path+".checking", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, rec, err := OpenChecked(path, testBox)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if rec == nil || rec.CheckIns != 4 || rec.Queued != 2 || !rec.Complete || !strings.Contains(rec.Problem.Error(), "did not finish") {
		t.Fatalf("recovery %+v", rec)
	}
	if _, err := os.Stat(path + ".checking"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("marker left: %v", err)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

func TestOpenChecked_recordThatDoesNotReadBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "box.db")
	before := fillStore(t, path, 10)
	// A flipped bit in a check-in's nonce: bbolt's check cannot see it.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	target := []byte(`"nonce":"` + before[3].Nonce[:20])
	i := bytes.LastIndex(data, target)
	if i < 0 {
		t.Fatal("check-in not found in the file")
	}
	data[i+len(`"nonce":"`)+5] ^= 0x01
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s, rec, err := OpenChecked(path, testBox)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if rec == nil || !strings.Contains(rec.Problem.Error(), "does not read back") {
		t.Fatalf("recovery %+v", rec)
	}
	if rec.CheckIns != 9 || rec.Complete {
		t.Errorf("recovery %+v: want the 9 sound check-ins, incomplete", rec)
	}
	if p, err := s.Pending(100); err != nil || len(p) != rec.Queued {
		t.Errorf("the outbox does not read back: %d, %v", len(p), err)
	}
}

func TestOpenChecked_finishesAnInterruptedRecovery(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "box.db")
	fillStore(t, path, 4)
	// Power cut after the damaged file went aside, before the rebuilt one
	// took its place.
	if err := os.Rename(path, path+".rebuild"); err != nil {
		t.Fatal(err)
	}
	s, rec, err := OpenChecked(path, testBox)
	if err != nil || rec != nil {
		t.Fatalf("rec %+v, err %v", rec, err)
	}
	defer s.Close()
	if cs, _ := s.CheckIns(10); len(cs) != 4 {
		t.Errorf("%d check-ins, want the rebuilt store's 4", len(cs))
	}
	if _, err := os.Stat(path + ".rebuild"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rebuild left: %v", err)
	}
}

func TestProbe_wedgedStore(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "box.db"))
	probe := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		return s.Probe(ctx)
	}
	if err := probe(); err != nil {
		t.Fatalf("healthy store: %v", err)
	}
	// A decision stuck inside its transaction holds the write lock.
	release, entered, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		_, err := s.Admit(Presented{Input: []byte("x"), Gate: "gate-1"}, func(Found) Outcome {
			close(entered)
			<-release
			return Outcome{Verdict: "rejected", Reason: "unreadable", At: time.Now()}
		})
		done <- err
	}()
	<-entered
	if err := probe(); !errors.Is(err, ErrWedged) {
		t.Errorf("wedged store: %v, want ErrWedged", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := probe(); err != nil {
		t.Errorf("store free again: %v", err)
	}
}

// TestSalvage_readsAroundADamagedPage reads a bucket with a damaged page
// through boltFile: every other page's keys, in order.
func TestSalvage_readsAroundADamagedPage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		b.FillPercent = 1
		for i := range 2000 {
			if err := b.Put(fmt.Appendf(nil, "k%05d", i), bytes.Repeat([]byte("v"), 100)); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	damagePage(t, path, "k01000", "")
	f, err := openBoltFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var keys []string
	complete := f.entries(func(k, _ []byte) { keys = append(keys, string(k)) }, []byte("b"))
	if complete || len(keys) < 1900 || len(keys) >= 2000 || keys[0] != "k00000" || keys[len(keys)-1] != "k01999" {
		t.Errorf("salvaged %d keys (%v … %v), complete %v; want all but one page's, both ends", len(keys), keys[:1], keys[len(keys)-1:], complete)
	}
	var carved int
	f.carve(func(k, _ []byte) {
		if strings.HasPrefix(string(k), "k") {
			carved++
		}
	})
	if carved < len(keys) {
		t.Errorf("carving found %d keys, the tree %d", carved, len(keys))
	}
}
