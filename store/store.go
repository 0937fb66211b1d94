package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Schema is the layout version this package writes.
const Schema = 1

var (
	bMeta     = []byte("meta")
	bEvents   = []byte("events")
	bCheckins = []byte("checkins")
	bOutbox   = []byte("outbox")
	bPeers    = []byte("peers")
	bAudit    = []byte("audit")

	bTickets = []byte("tickets")
	bCodes   = []byte("codes")
	bCards   = []byte("cards")
	bRevoked = []byte("revoked")
	bUses    = []byte("uses")
	bCounts  = []byte("counts")

	kSchema = []byte("schema")
	kBox    = []byte("box")
	kBoot   = []byte("boot")
	kSeq    = []byte("seq")
	kNewest = []byte("newest")
	kQueued = []byte("queued")
	kAudit  = []byte("audit")
	kConfig = []byte("config")
)

// Errors of the store.
var (
	// ErrSchema means the file was written by another layout version.
	ErrSchema = errors.New("store: unknown schema version")
	// ErrIdentity means the file belongs to another box.
	ErrIdentity = errors.New("store: file belongs to another box")
	// ErrVersion means a manifest does not follow the version applied: a
	// delta on another base, or a snapshot older than the one applied.
	ErrVersion = errors.New("store: manifest version does not follow")
)

// Store is an open box store.
type Store struct {
	db   *bolt.DB
	id   Identity
	boot uint64
}

// Open opens or creates the store at path for the box id, counts a boot,
// and checks the schema. A file that another process holds open is an error
// after a second, not a hang.
func Open(path string, id Identity) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{db: db, id: id}
	if err := db.Update(s.init); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) init(tx *bolt.Tx) error {
	for _, name := range [][]byte{bMeta, bEvents, bCheckins, bOutbox, bPeers, bAudit} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("store: create %s: %w", name, err)
		}
	}
	meta := tx.Bucket(bMeta)
	if v := meta.Get(kSchema); v == nil {
		if err := meta.Put(kSchema, u64(Schema)); err != nil {
			return err
		}
	} else if got := binary.BigEndian.Uint64(v); got != Schema {
		return fmt.Errorf("%w: file has %d, want %d", ErrSchema, got, Schema)
	}
	if v := meta.Get(kBox); v == nil {
		b, _ := json.Marshal(s.id) // a struct of strings always marshals
		if err := meta.Put(kBox, b); err != nil {
			return err
		}
	} else {
		var had Identity
		if err := json.Unmarshal(v, &had); err != nil {
			return fmt.Errorf("store: box identity: %w", err)
		}
		if had.Box != s.id.Box {
			return fmt.Errorf("%w: it is %q's, this is %q", ErrIdentity, had.Box, s.id.Box)
		}
		if had != s.id {
			b, _ := json.Marshal(s.id)
			if err := meta.Put(kBox, b); err != nil {
				return err
			}
		}
	}
	s.boot = getU64(meta, kBoot) + 1
	if err := meta.Put(kBoot, u64(s.boot)); err != nil {
		return err
	}
	if err := meta.Put(kSeq, u64(0)); err != nil {
		return err
	}
	return appendAudit(tx, Entry{At: time.Now().UTC(), Kind: "boot", Actor: "system", Detail: fmt.Sprintf("boot %d", s.boot)})
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Path returns the file's path.
func (s *Store) Path() string { return s.db.Path() }

// Boot returns this opening's boot counter: 1 for the first, then one more
// each time the store is opened.
func (s *Store) Boot() uint64 { return s.boot }

// Identity returns the box the store belongs to.
func (s *Store) Identity() Identity { return s.id }

// Check runs bbolt's consistency check over the whole file.
func (s *Store) Check() error {
	return s.db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

// Newest returns the newest wall time the store has recorded.
func (s *Store) Newest() (time.Time, error) {
	var t time.Time
	err := s.db.View(func(tx *bolt.Tx) error {
		t = getTime(tx.Bucket(bMeta), kNewest)
		return nil
	})
	return t, err
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func getU64(b *bolt.Bucket, k []byte) uint64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func getTime(b *bolt.Bucket, k []byte) time.Time {
	v := b.Get(k)
	if len(v) != 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
}

func putTime(b *bolt.Bucket, k []byte, t time.Time) error {
	return b.Put(k, u64(uint64(t.UnixNano())))
}

// seqKey is the key of a check-in: boot and sequence number, big-endian,
// so that keys sort oldest first.
func seqKey(boot, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(u64(boot), seq)
}

// newNonce returns a check-in's nonce: its key followed by 8 random
// bytes, in hex. The key lets Ack find the outbox entry without an index;
// the random part keeps nonces unique should a rebuilt store count boots
// from 1 again.
func newNonce(key []byte) string {
	var r [8]byte
	rand.Read(r[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(append(slices.Clone(key), r[:]...))
}

// nonceKey returns the check-in key inside a nonce, or nil.
func nonceKey(nonce string) []byte {
	b, err := hex.DecodeString(nonce)
	if err != nil || len(b) != 24 {
		return nil
	}
	return b[:16]
}

// eventBucket returns the bucket of event id, or nil.
func eventBucket(tx *bolt.Tx, id string) *bolt.Bucket {
	return tx.Bucket([]byte("ev/" + id))
}

func getJSON[T any](b *bolt.Bucket, k []byte) (*T, error) {
	if b == nil {
		return nil, nil
	}
	v := b.Get(k)
	if v == nil {
		return nil, nil
	}
	var t T
	if err := json.Unmarshal(v, &t); err != nil {
		return nil, fmt.Errorf("store: decode %s: %w", k, err)
	}
	return &t, nil
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode %s: %w", k, err)
	}
	return b.Put(k, data)
}

// SetNoSync turns fsync off (true) or back on. It exists to fill a store
// fast in benchmarks and load tests: with it on, a power cut loses what the
// store said it recorded. A gate never calls it.
func (s *Store) SetNoSync(on bool) { s.db.NoSync = on }
