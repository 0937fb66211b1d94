package hqstore

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// benchBatch returns batch i of 200 check-ins of one box, as hqsync hands
// them to Ingest: sequence numbers follow on from the previous batch, each
// a first-time admission of its own ticket.
func benchBatch(i int) []CheckIn {
	const size = 200
	temp := 36.6
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	cs := make([]CheckIn, size)
	for j := range cs {
		seq := uint64(i*size + j + 1)
		cs[j] = CheckIn{Nonce: fmt.Sprintf("%016x%016x%016x", 1, seq, seq*0x9e3779b97f4a7c15), Org: "acme-bank", Venue: "sh-pudong",
			Box: "gate-1", Gate: "gate-1", Boot: 1, Seq: seq, Event: "demo-briefing", Ticket: fmt.Sprint(seq),
			Verdict: "admitted", Reason: "ok", At: at.Add(time.Duration(seq) * time.Millisecond), TempC: &temp,
			Input: fmt.Sprintf("%016x", seq*31), Historical: true, Received: at.Add(time.Hour)}
	}
	return cs
}

// BenchmarkHQIngest measures HQ's ingest alone: one Ingest (one fsync'd
// transaction) per batch of 200 check-ins, into a store that grows from
// empty. In the same loop it measures the floor: one fsync'd bbolt commit
// of the same 200 records (each check-in's JSON under its nonce) into a
// plain file, without Ingest's indexes, duplicate checks and gap
// tracking. It reports both rates and their ratio.
func BenchmarkHQIngest(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(filepath.Join(dir, "hq.db"), quiet())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	fdb, err := bolt.Open(filepath.Join(dir, "floor.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer fdb.Close()

	var ingest, floor time.Duration
	var stored int
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		cs := benchBatch(i)
		keys, vals := make([][]byte, len(cs)), make([][]byte, len(cs))
		for j := range cs {
			keys[j] = []byte(cs[j].Nonce)
			if vals[j], err = json.Marshal(&cs[j]); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		t0 := time.Now()
		res, err := s.Ingest(cs)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		err = fdb.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("checkins"))
			if err != nil {
				return err
			}
			for j := range keys {
				if err := bk.Put(keys[j], vals[j]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		ingest, floor = ingest+t1.Sub(t0), floor+time.Since(t1)
		stored += res.Stored
	}
	b.StopTimer()
	if stored != 200*b.N {
		b.Fatalf("stored %d of %d", stored, 200*b.N)
	}
	rate, floorRate := float64(stored)/ingest.Seconds(), float64(stored)/floor.Seconds()
	b.ReportMetric(rate, "checkins/s")
	b.ReportMetric(floorRate, "floor-checkins/s")
	b.ReportMetric(floorRate/rate, "ratio")
	b.ReportMetric(float64(ingest.Microseconds())/float64(b.N), "batch-µs")
	b.ReportMetric(float64(floor.Microseconds())/float64(b.N), "floor-batch-µs")
}
