package box

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"venuebox/cmd/internal/manifest"
	"venuebox/cmd/internal/ticket"
	"venuebox/store"
)

// bigEvent fills a store with n tickets of the demo event, ids 1..n, with
// the code hashes given for some and made-up ones for the rest.
func bigEvent(b *testing.B, st *store.Store, n int, hashes map[uint64]string) {
	b.Helper()
	m := store.Manifest{Event: store.Event{ID: DemoEvent}, Snapshot: true, Version: 1, Tickets: make([]store.Ticket, n)}
	for i := range n {
		hash, ok := hashes[uint64(i+1)]
		if !ok {
			sum := sha256.Sum256(fmt.Appendf(nil, "code %d", i))
			hash = hex.EncodeToString(sum[:])
		}
		m.Tickets[i] = store.Ticket{ID: fmt.Sprint(i + 1), CodeHash: hash, NameMasked: "张*丰", PhoneMasked: "138****5678", Holder: make([]byte, 60)}
	}
	if err := st.ApplyManifest(m); err != nil {
		b.Fatal(err)
	}
}

// floorDB is a plain bbolt file with n 16-byte keys and 120-byte values,
// loaded in key order: what the floor's Get reads.
func floorDB(b *testing.B, path string, n int) *bolt.DB {
	b.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	val := make([]byte, 120)
	for start := 0; start < n; start += 100_000 {
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("t"))
			if err != nil {
				return err
			}
			bk.FillPercent = 1
			for i := start; i < min(start+100_000, n); i++ {
				if err := bk.Put(floorKey(i), val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return db
}

func floorKey(i int) []byte { return fmt.Appendf(nil, "%016d", i) }

// BenchmarkAdmit measures one admission of a signed code at a box whose
// store holds 1,000,000 tickets: verify, look up, decide and the fsync'd
// commit. In the same loop it measures the floor: one Ed25519 verify, one
// bbolt Get and one fsync'd one-key commit. It reports both at p50 and p99
// and their ratio.
func BenchmarkAdmit(b *testing.B) {
	const tickets = 1_000_000
	dir := b.TempDir()
	priv := newKey(b)
	pub := priv.Public().(ed25519.PublicKey)
	st, err := store.Open(filepath.Join(dir, "box.db"), testID)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	codes := make([]string, b.N)
	hashes := make(map[uint64]string, b.N)
	for i := range codes {
		n := uint64(1 + (i*7919)%tickets)
		if codes[i], err = ticket.Sign(priv, ticket.Claims{Event: DemoEvent, Number: n}); err != nil {
			b.Fatal(err)
		}
		hashes[n] = ticket.CodeHash(codes[i])
	}
	bigEvent(b, st, tickets, hashes)
	bx, err := New(Options{Store: st, Trust: ticket.NewKeyring(pub), Policy: defaultPolicy()})
	if err != nil {
		b.Fatal(err)
	}
	fdb := floorDB(b, filepath.Join(dir, "floor.db"), tickets)
	defer fdb.Close()
	msg, sig := make([]byte, 60), []byte(nil)
	rand.Read(msg)
	sig = ed25519.Sign(priv, msg)

	admit, floor := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		v, err := bx.Present(ctx, Code, codes[i])
		if err != nil || v.Verdict != "admitted" {
			b.Fatalf("%+v %v", v, err)
		}
		t1 := time.Now()
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify")
		}
		err = fdb.View(func(tx *bolt.Tx) error {
			if tx.Bucket([]byte("t")).Get(floorKey((i*7919)%tickets)) == nil {
				return fmt.Errorf("floor key missing")
			}
			return nil
		})
		if err == nil {
			err = fdb.Update(func(tx *bolt.Tx) error {
				bk, err := tx.CreateBucketIfNotExists([]byte("w"))
				if err != nil {
					return err
				}
				return bk.Put([]byte("k"), msg[:8])
			})
		}
		if err != nil {
			b.Fatal(err)
		}
		admit, floor = append(admit, t1.Sub(t0)), append(floor, time.Since(t1))
	}
	b.StopTimer()
	reportLatency(b, "admit", admit)
	reportLatency(b, "floor", floor)
	b.ReportMetric(float64(pct(admit, 50))/float64(pct(floor, 50)), "p50-ratio")
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func reportLatency(b *testing.B, name string, d []time.Duration) {
	b.ReportMetric(float64(pct(d, 50).Microseconds()), name+"-p50-µs")
	b.ReportMetric(float64(pct(d, 99).Microseconds()), name+"-p99-µs")
}

// BenchmarkApplyManifest measures bringing an empty box to a signed
// 100,000-ticket snapshot: signature check, decode, validation and the
// store's one transaction. It reports the manifest's size and the store
// file's growth.
func BenchmarkApplyManifest(b *testing.B) {
	const tickets = 100_000
	priv := newKey(b)
	m := &manifest.Manifest{Format: manifest.Format, Kind: manifest.KindSnapshot, Version: 1, IssuedAt: time.Now(),
		CardKey: make([]byte, manifest.CardKeySize), Event: manifest.Event{ID: DemoEvent, Name: "Briefing"}}
	for i := range tickets {
		code := fmt.Sprintf("code %d", i)
		sealed, err := ticket.Seal(code, ticket.Holder{Name: "张三丰", Phone: "13812345678"})
		if err != nil {
			b.Fatal(err)
		}
		m.Tickets = append(m.Tickets, manifest.Ticket{ID: fmt.Sprint(i + 1), CodeHash: ticket.CodeHash(code),
			NameMasked: "张*丰", PhoneMasked: "138****5678", Holder: sealed})
	}
	raw, err := manifest.Sign(priv, m)
	if err != nil {
		b.Fatal(err)
	}
	var fileBytes int64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "box.db")
		st, err := store.Open(path, testID)
		if err != nil {
			b.Fatal(err)
		}
		bx, err := New(Options{Store: st, Trust: ticket.NewKeyring(priv.Public().(ed25519.PublicKey)), Policy: defaultPolicy()})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := bx.ApplyManifest(raw); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		st.Close()
		fi, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		fileBytes = fi.Size()
		b.StartTimer()
	}
	b.ReportMetric(float64(len(raw)), "manifest-bytes")
	b.ReportMetric(float64(fileBytes), "store-bytes")
}
