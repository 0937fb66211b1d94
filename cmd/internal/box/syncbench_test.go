package box

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"venuebox/cmd/internal/ticket"
	"venuebox/store"
	"venuebox/store/hqstore"
	"venuebox/sync/boxsync"
	"venuebox/sync/hqsync"
	"venuebox/sync/mqttconn"
	"venuebox/sync/mqtttest"
	"venuebox/sync/wire"
)

// benchLog discards everything, unless the benchmark runs with -v.
func benchLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.DiscardHandler)
}

// runBG runs f until the returned stop is called; stop waits for f.
func runBG(b *testing.B, name string, f func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				b.Errorf("%s: %v", name, err)
			}
		})
	}
	b.Cleanup(stop)
	return stop
}

// profile starts a CPU profile and an execution trace of one measured
// phase when VENUEBOX_BENCH_PROFILE names a directory, and returns what
// stops them: go tool pprof DIR/NAME.cpu, go tool trace DIR/NAME.trace.
func profile(b *testing.B, name string) (stop func()) {
	dir := os.Getenv("VENUEBOX_BENCH_PROFILE")
	if dir == "" {
		return func() {}
	}
	cpu, err := os.Create(filepath.Join(dir, name+".cpu"))
	if err != nil {
		b.Fatal(err)
	}
	tr, err := os.Create(filepath.Join(dir, name+".trace"))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		b.Fatal(err)
	}
	if err := trace.Start(tr); err != nil {
		b.Fatal(err)
	}
	return func() {
		trace.Stop()
		pprof.StopCPUProfile()
		cpu.Close()
		tr.Close()
	}
}

// cpuTime returns the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func waitUntil(b *testing.B, what string, within time.Duration, every time.Duration, ok func() bool) {
	b.Helper()
	for deadline := time.Now().Add(within); !ok(); time.Sleep(every) {
		if time.Now().After(deadline) {
			b.Fatalf("%s: not within %v", what, within)
		}
	}
}

// fillOutbox writes n admissions of the demo event (tickets 1..n, each
// admitted once) into a new store at path, with fsync off while filling,
// and closes it: a box that has been offline for n check-ins.
func fillOutbox(b *testing.B, path string, n int) {
	b.Helper()
	st, err := store.Open(path, testID)
	if err != nil {
		b.Fatal(err)
	}
	st.SetNoSync(true)
	bigEvent(b, st, n, nil)
	at := time.Now().Add(-time.Hour)
	temp := 36.6
	for i := range n {
		p := store.Presented{Input: fmt.Appendf(nil, "code %d", i), Event: DemoEvent, Ticket: fmt.Sprint(i + 1), Gate: testID.Box, TempC: &temp}
		_, err := st.Admit(p, func(store.Found) store.Outcome {
			return store.Outcome{Verdict: "admitted", Reason: "ok", At: at.Add(time.Duration(i) * time.Millisecond)}
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	st.SetNoSync(false)
	if q, err := st.Queued(); err != nil || q != n {
		b.Fatalf("queued %d, %v; want %d", q, err, n)
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
}

func copyFile(b *testing.B, dst, src string) {
	b.Helper()
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
}

// startHQ runs HQ's end (hqsync over a fresh hqstore) against url.
func startHQ(b *testing.B, url string, mf hqsync.Manifests) (*hqstore.Store, func()) {
	b.Helper()
	hqs, err := hqstore.Open(filepath.Join(b.TempDir(), "hq.db"), benchLog())
	if err != nil {
		b.Fatal(err)
	}
	// OnConnect is told after the subscriptions are in place.
	up := make(chan struct{}, 1)
	onUp := func() {
		select {
		case up <- struct{}{}:
		default:
		}
	}
	hq, err := hqsync.New(hqsync.Config{MQTT: mqttconn.Config{URL: url, ClientID: "hq-bench", OnConnect: onUp}, Group: "hq", Manifests: mf}, hqs, benchLog())
	if err != nil {
		b.Fatal(err)
	}
	stop := runBG(b, "hq", hq.Run)
	select {
	case <-up:
	case <-time.After(10 * time.Second):
		b.Fatal("HQ not connected")
	}
	return hqs, func() { stop(); hqs.Close() }
}

// BenchmarkBacklogDrain measures a box that comes back online with
// 100,000 check-ins in its outbox: boxsync sends them through a real
// Mosquitto to HQ's end (hqsync + hqstore, fsync on both sides), HQ
// stores and acknowledges them, the box deletes them from its outbox. The
// clock runs from the start of sync until the outbox is empty. In the same
// run, on the same broker, the peer: the same check-ins encoded the same
// way (the same 500 batch payloads) published at QoS 1 with up to 100 in
// flight (concurrent mqttconn.Publish calls: paho's own tokens, nothing
// else in between) to a subscriber that receives every one.
func BenchmarkBacklogDrain(b *testing.B) {
	const n = 100_000
	broker := mqtttest.Start(b, nil)
	dir := b.TempDir()
	template := filepath.Join(dir, "template.db")
	fillOutbox(b, template, n)

	// The peer's payloads: what boxsync sends, batch for batch.
	payloads := func() [][]byte {
		copyFile(b, filepath.Join(dir, "peer.db"), template)
		st, err := store.Open(filepath.Join(dir, "peer.db"), testID)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		cs, err := syncStore{st}.Pending(n, nil)
		if err != nil || len(cs) != n {
			b.Fatalf("pending %d, %v", len(cs), err)
		}
		var out [][]byte
		for lo := 0; lo < n; lo += 200 {
			raw, err := wire.Encode(&wire.Batch{Box: testID.Box, Historical: true, Sent: time.Now(), CheckIns: cs[lo:min(lo+200, n)]})
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, raw)
		}
		return out
	}()
	var bytesSent int
	for _, p := range payloads {
		bytesSent += len(p)
	}

	var drain, drainCPU time.Duration
	var peers []float64
	var pendingCalls, pendingRows int64
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		path := filepath.Join(dir, fmt.Sprintf("box-%d.db", i))
		copyFile(b, path, template)
		st, err := store.Open(path, testID)
		if err != nil {
			b.Fatal(err)
		}
		hqs, stopHQ := startHQ(b, broker.URL, nil)
		counted := &countingStore{Store: syncStore{st}}
		s, err := boxsync.New(boxsync.Config{Org: testID.Org, Venue: testID.Venue, Box: testID.Box,
			MQTT: mqttconn.Config{URL: broker.URL}}, counted, benchLog(),
			func([]byte) error { return errors.New("no manifest expected") })
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		b.StartTimer()
		stopProfile := profile(b, "drain")
		t0, cpu0 := time.Now(), cpuTime()
		stopBox := runBG(b, "boxsync", s.Run)
		waitUntil(b, "outbox empty", 100*time.Second, 2*time.Millisecond, func() bool {
			q, err := st.Queued()
			return err == nil && q == 0
		})
		drain += time.Since(t0)
		drainCPU += cpuTime() - cpu0
		stopProfile()
		pendingCalls += counted.calls.Load()
		pendingRows += counted.rows.Load()
		b.StopTimer()
		stopBox()
		if c, err := hqs.Count(); err != nil || c != n {
			b.Fatalf("HQ holds %d check-ins, %v; want %d", c, err, n)
		}
		stopHQ()
		st.Close()

		// The peer's run is short (about 0.1 s): take the median of five.
		for range 5 {
			peers = append(peers, float64(n)/publishPeer(b, broker.URL, payloads, 100).Seconds())
		}
		b.StartTimer()
	}
	b.StopTimer()
	rate := float64(n*b.N) / drain.Seconds()
	peerRate := median(peers)
	b.ReportMetric(rate, "checkins/s")
	b.ReportMetric(peerRate, "peer-checkins/s")
	b.ReportMetric(rate/peerRate, "ratio")
	b.ReportMetric(float64(len(payloads)), "msgs")
	b.ReportMetric(float64(bytesSent)/1e6, "MB")
	// How many check-ins sync read from the outbox per check-in sent, and
	// in how many calls: what it decodes beyond what it sends.
	b.ReportMetric(float64(pendingRows)/float64(n*b.N), "read/checkin")
	// The CPU box and HQ used (one process; Mosquitto not counted).
	b.ReportMetric(float64(drainCPU.Microseconds())/float64(n*b.N), "cpu-µs/checkin")
	b.ReportMetric(float64(pendingCalls)/float64(b.N), "pending-calls")
}

// countingStore counts what sync reads from the outbox.
type countingStore struct {
	boxsync.Store
	calls, rows atomic.Int64
}

func (c *countingStore) Pending(limit int, skip func(string) bool) ([]boxsync.CheckIn, error) {
	cs, err := c.Store.Pending(limit, skip)
	c.calls.Add(1)
	c.rows.Add(int64(len(cs)))
	return cs, err
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// publishPeer publishes payloads at QoS 1 with up to inflight waiting for
// their PUBACK, to a subscriber of its own, and returns the time from the
// first publish until the subscriber has received every one.
func publishPeer(b *testing.B, url string, payloads [][]byte, inflight int) time.Duration {
	b.Helper()
	const topic = "bench/peer/checkins"
	// OnConnect is told after the subscriptions are in place.
	up := make(chan struct{}, 2)
	onUp := func() { up <- struct{}{} }
	sub, err := mqttconn.New(mqttconn.Config{URL: url, ClientID: "peer-sub", OnConnect: onUp}, benchLog())
	if err != nil {
		b.Fatal(err)
	}
	var got atomic.Int64
	all := make(chan struct{})
	if err := sub.Subscribe(topic, 1, func(mqttconn.Message) {
		if got.Add(1) == int64(len(payloads)) {
			close(all)
		}
	}); err != nil {
		b.Fatal(err)
	}
	stopSub := runBG(b, "peer subscriber", sub.Run)
	defer stopSub()
	pub, err := mqttconn.New(mqttconn.Config{URL: url, ClientID: "peer-pub", OnConnect: onUp}, benchLog())
	if err != nil {
		b.Fatal(err)
	}
	stopPub := runBG(b, "peer publisher", pub.Run)
	defer stopPub()
	for range 2 {
		select {
		case <-up:
		case <-time.After(10 * time.Second):
			b.Fatal("peer not connected")
		}
	}

	ctx := context.Background()
	sem := make(chan struct{}, inflight)
	var wg sync.WaitGroup
	var failed atomic.Value
	t0 := time.Now()
	for _, p := range payloads {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := pub.Publish(ctx, mqttconn.Message{Topic: topic, Payload: p, QoS: 1}); err != nil {
				failed.Store(err)
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	select {
	case <-all:
	case <-time.After(60 * time.Second):
		b.Fatalf("peer subscriber received %d of %d", got.Load(), len(payloads))
	}
	return time.Since(t0)
}

// oneManifest is HQ's manifest library holding one signed snapshot.
type oneManifest hqsync.Manifest

func (m oneManifest) Manifests(_, _ string, have map[string]uint64) ([]hqsync.Manifest, error) {
	if have[m.Event] >= m.Version {
		return nil, nil
	}
	return []hqsync.Manifest{hqsync.Manifest(m)}, nil
}

// BenchmarkManifestToEmptyBox measures bringing an empty box to a signed
// 100,000-ticket snapshot over MQTT: the box's sync connects to a real
// Mosquitto and asks for what it lacks, HQ's end answers from its
// manifest library in 160 KiB chunks, the box reassembles them, checks
// size and digest, verifies HQ's signature and applies the manifest in one
// store transaction. The clock runs from the start of the box's sync until
// the manifest is applied. In the same run, the peer: the same box applying
// the same bytes locally (Box.ApplyManifest on a fresh store).
func BenchmarkManifestToEmptyBox(b *testing.B) {
	const tickets = 100_000
	priv := newKey(b)
	trust := ticket.NewKeyring(priv.Public().(ed25519.PublicKey))
	_, raw, err := DemoManifest(priv, tickets)
	if err != nil {
		b.Fatal(err)
	}
	chunks, err := wire.Split(DemoEvent, 1, 0, raw)
	if err != nil {
		b.Fatal(err)
	}
	broker := mqtttest.Start(b, nil)
	_, stopHQ := startHQ(b, broker.URL, oneManifest{Event: DemoEvent, Version: 1, Raw: raw})
	defer stopHQ()

	openBox := func() (*store.Store, *Box) {
		st, err := store.Open(filepath.Join(b.TempDir(), "box.db"), testID)
		if err != nil {
			b.Fatal(err)
		}
		bx, err := New(Options{Store: st, Trust: trust, Policy: defaultPolicy()})
		if err != nil {
			b.Fatal(err)
		}
		return st, bx
	}
	check := func(st *store.Store) {
		evs, err := st.Events()
		if err != nil || len(evs) != 1 || evs[0].Version != 1 || evs[0].Tickets != tickets {
			b.Fatalf("events %+v, %v; want version 1 with %d tickets", evs, err, tickets)
		}
	}

	var overMQTT, local time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		st, bx := openBox()
		applied := make(chan error, 1)
		s, err := boxsync.New(boxsync.Config{Org: testID.Org, Venue: testID.Venue, Box: testID.Box,
			MQTT: mqttconn.Config{URL: broker.URL}}, syncStore{st}, benchLog(),
			func(raw []byte) error {
				err := bx.ApplyManifest(raw)
				select {
				case applied <- err:
				default: // a redelivery after the first
				}
				return err
			})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		b.StartTimer()
		stopProfile := profile(b, "manifest")
		t0 := time.Now()
		stopBox := runBG(b, "boxsync", s.Run)
		select {
		case err := <-applied:
			if err != nil {
				b.Fatal(err)
			}
		case <-time.After(100 * time.Second):
			b.Fatal("manifest not applied within 100 s")
		}
		overMQTT += time.Since(t0)
		stopProfile()
		b.StopTimer()
		stopBox()
		check(st)
		st.Close()

		st, bx = openBox()
		t0 = time.Now()
		if err := bx.ApplyManifest(raw); err != nil {
			b.Fatal(err)
		}
		local += time.Since(t0)
		check(st)
		st.Close()
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(overMQTT.Seconds()/float64(b.N), "mqtt-s")
	b.ReportMetric(local.Seconds()/float64(b.N), "local-s")
	b.ReportMetric(overMQTT.Seconds()/local.Seconds(), "ratio")
	b.ReportMetric(float64(len(raw))/1e6, "manifest-MB")
	b.ReportMetric(float64(len(chunks)), "chunks")
}
