package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// A box loses power without warning, and an SD card may then hold a store
// bbolt cannot trust (bbolt issues #325, #335, #701). OpenChecked checks
// the file before the box writes to it and, when it is damaged, keeps what
// it can read in a fresh file: the check-ins (HQ must still get each one),
// the outbox, the venue's other gates' check-ins, every ticket's
// admissions, the fast-path revocations, the boot counter and the audit
// chain as far as it verifies. The ticket cache is not kept: the caller
// rebuilds it from its last manifest, and sync asks HQ for newer ones.
//
// Files, all beside the store (in the state directory, the only place the
// box writes):
//
//	box.db                     the store
//	box.db.checking            present while bbolt's check runs
//	box.db.rebuild             a recovery's fresh store, until it replaces box.db
//	box.db.damaged-<UTC time>  a damaged store, moved aside for a post-mortem

// Recovery says what OpenChecked did with a damaged store.
type Recovery struct {
	// Problem is what was wrong: bbolt's findings, or why the file would
	// not open.
	Problem error
	// MovedTo is where the damaged file now is.
	MovedTo string
	// CheckIns counts the check-ins kept; Queued those of them in the
	// outbox for HQ; Peers the other gates' check-ins kept; Revoked the
	// revocations kept; Audit the audit entries kept.
	CheckIns, Queued, Peers, Revoked, Audit int
	// Complete is false when some check-ins could not be read back: the
	// file had more than CheckIns. The outbox then holds every check-in
	// kept (HQ drops the ones it has), since which HQ had is unknown.
	Complete bool
	// LastBoot is the damaged store's boot counter (as far as it could be
	// read); the fresh store goes on above it, so that check-in numbers
	// stay unique.
	LastBoot uint64
}

// OpenChecked opens the store at path as Open does, after bbolt's
// consistency check of the file. A damaged file, or one that does not open
// as a bbolt file, is moved aside and replaced by a fresh store holding
// what could be read from it; the Recovery says what. A healthy file gives
// a nil Recovery. A file another process holds, or one this process may
// not read, is an error, never damage.
//
// Beside bbolt's check, which looks at the pages, OpenChecked reads back
// the check-ins, the outbox and the peers' check-ins (bbolt keeps no
// checksum of the data itself): one that does not decode, or whose nonce
// does not carry its key, is damage too.
//
// Should the check itself crash the process (bbolt's check runs on a
// goroutine that cannot catch a fault on a wild page number), the next
// OpenChecked finds the marker it left and recovers without checking
// again, reading where every fault is caught: the daemon restarts into a
// recovery, not a crash loop. (A power cut during the check does the same:
// the recovery then keeps everything, at the cost of refilling the ticket
// cache.)
func OpenChecked(path string, id Identity) (*Store, *Recovery, error) {
	if err := finishRebuild(path); err != nil {
		return nil, nil, err
	}
	problem, err := check(path)
	if err != nil {
		return nil, nil, err
	}
	var rec *Recovery
	if problem != nil {
		if rec, err = recoverFile(path, problem); err != nil {
			return nil, nil, err
		}
	}
	s, err := Open(path, id)
	if err != nil {
		return nil, rec, err
	}
	return s, rec, nil
}

// finishRebuild completes a recovery a power cut interrupted: a rebuilt
// store whose damaged original is already aside takes its place; one
// whose original is still there is incomplete and goes.
func finishRebuild(path string) error {
	rebuild := path + ".rebuild"
	if _, err := os.Stat(rebuild); err != nil {
		return nil
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if err := os.Rename(rebuild, path); err != nil {
			return fmt.Errorf("store: finish recovery: %w", err)
		}
		return syncDir(filepath.Dir(path))
	}
	if err := os.Remove(rebuild); err != nil {
		return fmt.Errorf("store: remove incomplete recovery: %w", err)
	}
	return nil
}

// check returns what is wrong with the file at path (nil when it is
// healthy or absent), or an error when it cannot tell.
func check(path string) (problem, err error) {
	if st, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) || (err == nil && st.Size() == 0) {
		return nil, nil // Open creates it
	}
	db, err := openReadOnly(path)
	if err != nil {
		if isDamage(err) {
			return fmt.Errorf("does not open: %w", err), nil
		}
		return nil, fmt.Errorf("store: check %s: %w", path, err)
	}
	defer db.Close() // read-only: nothing to lose
	marker := path + ".checking"
	if _, err := os.Stat(marker); err == nil {
		// The last check did not finish: a fault on a wild page number
		// killed the process (or the power went during the check). Do
		// not run it again: salvage, where every read catches a fault.
		if err := os.Remove(marker); err != nil {
			return nil, fmt.Errorf("store: check: %w", err)
		}
		return errors.New("the consistency check at the last start did not finish"), nil
	}
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		return nil, fmt.Errorf("store: check: %w", err)
	}
	problem = boltCheck(db)
	if problem == nil {
		problem = checkRecords(db)
	}
	if err := os.Remove(marker); err != nil {
		return nil, fmt.Errorf("store: check: %w", err)
	}
	return problem, nil
}

// isDamage reports whether an error from opening a file says the file is
// not a sound bbolt file, rather than that it is locked or unreadable.
func isDamage(err error) bool {
	var pe *fs.PathError
	switch {
	case errors.Is(err, berrors.ErrTimeout), errors.As(err, &pe):
		return false
	}
	return true
}

// openReadOnly opens path without writing to it (bbolt then does not load
// the freelist either), turning a panic or a fault into an error.
func openReadOnly(path string) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt: %v", r)
		}
	}()
	return bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
}

// boltCheck runs bbolt's consistency check and joins its first findings.
func boltCheck(db *bolt.DB) error {
	var errs []error
	err := db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			if len(errs) < 10 {
				errs = append(errs, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return errors.Join(errs...)
}

// checkRecords reads back what bbolt cannot vouch for, since it keeps no
// checksum of the data in its pages: every check-in must decode and carry
// its own key in its nonce, every outbox entry must name its check-in,
// every peer check-in must decode. A flipped bit there would otherwise
// stop sync for good (Pending fails on the record) or send HQ a wrong
// nonce. Faults are caught.
func checkRecords(db *bolt.DB) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt: %v", r)
		}
	}()
	return db.View(func(tx *bolt.Tx) error {
		checkins := tx.Bucket(bCheckins)
		if checkins == nil || tx.Bucket(bOutbox) == nil || tx.Bucket(bMeta) == nil {
			return nil // a store Open has not initialised yet
		}
		if err := checkins.ForEach(func(k, v []byte) error {
			if _, ok := validCheckIn(k, v); !ok {
				return fmt.Errorf("check-in %x does not read back", k)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Bucket(bOutbox).ForEach(func(k, v []byte) error {
			c, ok := validCheckIn(k, checkins.Get(k))
			if !ok || c.Nonce != string(v) {
				return fmt.Errorf("outbox entry %x does not name its check-in", k)
			}
			return nil
		}); err != nil {
			return err
		}
		if peers := tx.Bucket(bPeers); peers != nil {
			return peers.ForEach(func(k, v []byte) error {
				if _, ok := validPeer(k, v); !ok {
					return fmt.Errorf("peer check-in %q does not read back", k)
				}
				return nil
			})
		}
		return nil
	})
}

// validCheckIn decodes a check-in stored under key k and reports whether
// it is whole: its nonce (lower-case hex, as written), boot and sequence
// are the ones its key says, and it has a verdict. A flipped bit in the
// nonce's random part or in another field cannot be seen: bbolt keeps no
// checksum of values.
func validCheckIn(k, v []byte) (CheckIn, bool) {
	var c CheckIn
	if len(k) != 16 || v == nil || len(v) > maxRecord || json.Unmarshal(v, &c) != nil {
		return c, false
	}
	key := nonceKey(c.Nonce)
	return c, key != nil && bytes.Equal(key, k) && strings.ToLower(c.Nonce) == c.Nonce && c.Verdict != "" &&
		c.Boot == binary.BigEndian.Uint64(k[:8]) && c.Seq == binary.BigEndian.Uint64(k[8:])
}

// validPeer decodes a peer check-in stored under its nonce.
func validPeer(k, v []byte) (CheckIn, bool) {
	var c CheckIn
	if len(k) == 0 || v == nil || len(v) > maxRecord || json.Unmarshal(v, &c) != nil || c.Nonce != string(k) {
		return c, false
	}
	return c, true
}

// maxRecord bounds a value salvage copies: the store's records are a few
// hundred bytes (a ticket's sealed holder data included).
const maxRecord = 1 << 20

// salvaged is what could be read from a damaged store.
type salvaged struct {
	boot     uint64
	newest   time.Time
	config   []byte            // the configuration's digest
	checkins map[string][]byte // key → CheckIn JSON
	complete bool              // every check-in was read
	outbox   map[string][]byte // key → nonce
	outboxOK bool              // the whole outbox was read
	peers    map[string][]byte // nonce → CheckIn JSON
	revoked  map[string][]string
	uses     map[string]map[string][]Use // event → ticket → admissions
	audit    []Entry                     // the verifiable prefix of the chain
	auditMax uint64                      // the highest entry number seen
}

// recoverFile salvages path into a fresh store, moves path aside and puts
// the fresh store in its place.
func recoverFile(path string, problem error) (*Recovery, error) {
	sv := &salvaged{checkins: map[string][]byte{}, outbox: map[string][]byte{}, peers: map[string][]byte{},
		revoked: map[string][]string{}, uses: map[string]map[string][]Use{}}
	if f, err := openBoltFile(path); err == nil {
		sv.read(f)
		f.Close() // read only
	}
	rebuild := path + ".rebuild"
	rec, err := sv.write(rebuild, problem)
	if err != nil {
		os.Remove(rebuild) // an incomplete rebuild is never used
		return nil, err
	}
	aside := path + ".damaged-" + time.Now().UTC().Format("20060102T150405Z")
	for i := 2; ; i++ {
		if _, err := os.Lstat(aside); errors.Is(err, fs.ErrNotExist) {
			break
		}
		aside = fmt.Sprintf("%s.damaged-%s-%d", path, time.Now().UTC().Format("20060102T150405Z"), i)
	}
	if err := os.Rename(path, aside); err != nil {
		return nil, fmt.Errorf("store: move the damaged file aside: %w", err)
	}
	if err := os.Rename(rebuild, path); err != nil {
		return nil, fmt.Errorf("store: put the rebuilt file in place: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	rec.MovedTo = aside
	return rec, nil
}

// read salvages what it can from f: bucket by bucket through the tree,
// and, where the tree is lost (no valid meta page) or the check-ins were
// not all reachable, by carving check-ins, peers' check-ins and audit
// entries out of every leaf page (records are never changed once written,
// so an old copy in a freed page is as good as the live one).
func (sv *salvaged) read(f *boltFile) {
	meta := func(k, v []byte) {
		switch {
		case string(k) == string(kBoot) && len(v) == 8:
			sv.boot = max(sv.boot, binary.BigEndian.Uint64(v))
		case string(k) == string(kNewest) && len(v) == 8:
			if t := time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC(); t.After(sv.newest) {
				sv.newest = t
			}
		case string(k) == string(kConfig) && sv.config == nil:
			sv.config = v
		}
	}
	unsound := false
	checkin := func(k, v []byte) {
		if c, ok := validCheckIn(k, v); ok {
			sv.checkins[string(k)] = v
			sv.boot = max(sv.boot, c.Boot)
		} else if len(k) == 16 {
			unsound = true
		}
	}
	peer := func(k, v []byte) {
		if _, ok := validPeer(k, v); ok {
			sv.peers[string(k)] = v
		}
	}
	entries := map[uint64]Entry{}
	audit := func(k, v []byte) {
		var e Entry
		if len(k) == 8 && len(v) <= maxRecord && json.Unmarshal(v, &e) == nil && binary.BigEndian.Uint64(k) == e.Seq && e.Hash != "" {
			entries[e.Seq] = e
			sv.auditMax = max(sv.auditMax, e.Seq)
		}
	}

	f.entries(meta, bMeta)
	whole := f.entries(checkin, bCheckins)
	sv.outboxOK = f.entries(func(k, v []byte) { sv.outbox[string(k)] = v }, bOutbox)
	f.entries(peer, bPeers)
	f.entries(audit, bAudit)
	var events []string
	f.each(f.rootValue(), func(k, _ []byte, bucket bool) {
		if id, ok := strings.CutPrefix(string(k), "ev/"); ok && id != "" && bucket {
			events = append(events, id)
		}
	})
	for _, ev := range events {
		f.entries(func(k, _ []byte) { sv.revoked[ev] = append(sv.revoked[ev], string(k)) }, []byte("ev/"+ev), bRevoked)
		f.entries(func(k, v []byte) {
			var us []Use
			if len(v) <= maxRecord && json.Unmarshal(v, &us) == nil {
				for _, u := range us {
					sv.addUse(ev, string(k), u)
				}
			}
		}, []byte("ev/"+ev), bUses)
	}
	if f.root == 0 || !whole {
		// Carving finds check-ins of pages the tree no longer reaches;
		// what the outbox says about them still holds when the outbox
		// was read whole, and without a tree it was not.
		f.carve(func(k, v []byte) {
			switch {
			case len(k) == 16:
				if _, ok := validCheckIn(k, v); ok {
					checkin(k, v)
				}
			case len(k) == 8:
				audit(k, v)
			case string(k) == string(kBoot) || string(k) == string(kNewest):
				meta(k, v)
			default:
				peer(k, v)
			}
		})
		whole = false
	}
	sv.complete = whole && !unsound && f.root != 0
	prev := ""
	for seq := uint64(1); ; seq++ {
		e, ok := entries[seq]
		if !ok || e.Prev != prev || HashEntry(e) != e.Hash {
			break
		}
		sv.audit, prev = append(sv.audit, e), e.Hash
	}
}

func (sv *salvaged) addUse(event, ticket string, u Use) {
	if event == "" || ticket == "" {
		return
	}
	if sv.uses[event] == nil {
		sv.uses[event] = map[string][]Use{}
	}
	for _, had := range sv.uses[event][ticket] {
		if had.Nonce == u.Nonce {
			return
		}
	}
	sv.uses[event][ticket] = append(sv.uses[event][ticket], u)
}

// write makes a fresh store at path from what was salvaged. Open then
// finishes it (schema, identity, the next boot).
func (sv *salvaged) write(path string, problem error) (*Recovery, error) {
	rec := &Recovery{Problem: problem, Complete: sv.complete, LastBoot: sv.boot}
	os.Remove(path) // a leftover of an earlier attempt
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("store: rebuild: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bMeta, bEvents, bCheckins, bOutbox, bPeers, bAudit} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta, checkins, outbox := tx.Bucket(bMeta), tx.Bucket(bCheckins), tx.Bucket(bOutbox)
		newest := sv.newest
		counts := map[[2]string]uint64{} // event, verdict
		for _, k := range sortedKeys(sv.checkins) {
			v := sv.checkins[k]
			var c CheckIn
			json.Unmarshal(v, &c) // decoded once already in read
			if err := checkins.Put([]byte(k), v); err != nil {
				return err
			}
			// An outbox entry that does not name its check-in is damage
			// too: queue it again (HQ drops what it has).
			queue := !sv.outboxOK || sv.outbox[k] != nil
			if queue {
				if err := outbox.Put([]byte(k), []byte(c.Nonce)); err != nil {
					return err
				}
				rec.Queued++
			}
			if c.At.After(newest) {
				newest = c.At
			}
			counts[[2]string{c.Event, c.Verdict}]++
			if c.Verdict == "admitted" && c.Event != "" && c.Ticket != "" {
				sv.addUse(c.Event, c.Ticket, Use{At: c.At, Gate: c.Gate, Verdict: c.Verdict, Reason: c.Reason, Boot: c.Boot, Nonce: c.Nonce})
			}
			rec.CheckIns++
		}
		for _, k := range sortedKeys(sv.peers) {
			var c CheckIn
			json.Unmarshal(sv.peers[k], &c) // decoded once already in read
			if err := tx.Bucket(bPeers).Put([]byte(k), sv.peers[k]); err != nil {
				return err
			}
			if c.Verdict == "admitted" && c.Event != "" && c.Ticket != "" {
				gate := cmp.Or(c.Gate, c.Box)
				sv.addUse(c.Event, c.Ticket, Use{At: c.At, Gate: gate, Verdict: c.Verdict, Reason: c.Reason, Nonce: c.Nonce})
			}
			rec.Peers++
		}
		events := map[string]bool{}
		for ev := range sv.uses {
			events[ev] = true
		}
		for ev := range sv.revoked {
			events[ev] = true
		}
		for key := range counts {
			if key[0] != "" {
				events[key[0]] = true
			}
		}
		for ev := range events {
			// The event's own record is not kept: the manifest applied
			// next recreates it and fills the cache, whatever its version.
			b, err := tx.CreateBucketIfNotExists([]byte("ev/" + ev))
			if err != nil {
				return err
			}
			for _, name := range [][]byte{bRevoked, bUses, bCounts} {
				if _, err := b.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			for _, id := range sv.revoked[ev] {
				if err := b.Bucket(bRevoked).Put([]byte(id), nil); err != nil {
					return err
				}
				rec.Revoked++
			}
			for ticket, us := range sv.uses[ev] {
				slices.SortFunc(us, func(a, b Use) int { return a.At.Compare(b.At) })
				if err := putJSON(b.Bucket(bUses), []byte(ticket), us); err != nil {
					return err
				}
			}
		}
		for key, n := range counts {
			b, k := meta, []byte("count/"+key[1])
			if key[0] != "" {
				b, k = tx.Bucket([]byte("ev/"+key[0])).Bucket(bCounts), []byte(key[1])
			}
			if err := b.Put(k, u64(getU64(b, k)+n)); err != nil {
				return err
			}
		}
		for _, kv := range [][2][]byte{{kBoot, u64(sv.boot)}, {kQueued, u64(uint64(rec.Queued))}} {
			if err := meta.Put(kv[0], kv[1]); err != nil {
				return err
			}
		}
		if sv.config != nil {
			if err := meta.Put(kConfig, sv.config); err != nil {
				return err
			}
		}
		if !newest.IsZero() {
			if err := putTime(meta, kNewest, newest); err != nil {
				return err
			}
		}
		for _, e := range sv.audit {
			if err := putJSON(tx.Bucket(bAudit), u64(e.Seq), e); err != nil {
				return err
			}
		}
		rec.Audit = len(sv.audit)
		if n := len(sv.audit); n > 0 {
			head := struct {
				Seq  uint64 `json:"seq"`
				Hash string `json:"hash"`
			}{sv.audit[n-1].Seq, sv.audit[n-1].Hash}
			if err := putJSON(meta, kAudit, head); err != nil {
				return err
			}
		}
		detail := fmt.Sprintf("store damaged (%v); kept %d check-ins (%d queued), %d peer check-ins, %d revocations, audit entries 1..%d",
			oneLine(problem), rec.CheckIns, rec.Queued, rec.Peers, rec.Revoked, rec.Audit)
		if sv.auditMax > uint64(rec.Audit) {
			detail += fmt.Sprintf(" (entries %d..%d lost)", rec.Audit+1, sv.auditMax)
		}
		if !sv.complete {
			detail += "; some check-ins were unreadable"
		}
		return appendAudit(tx, Entry{At: time.Now(), Kind: "recover", Actor: "system", Detail: detail})
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("store: rebuild: %w", err)
	}
	return rec, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// oneLine shortens a (joined) error to its first line for the audit log.
func oneLine(err error) string {
	s, _, more := strings.Cut(err.Error(), "\n")
	if more {
		s += " …"
	}
	return s
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: sync %s: %w", dir, err)
	}
	return nil
}
