package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"venuebox/sync/mqttconn"
	"venuebox/sync/wire"
)

func init() {
	commands["loadgen"] = command{summary: "play a fleet of virtual boxes against a broker, to measure HQ", run: runLoadgen}
}

// loadOpts is what one loadgen run does.
type loadOpts struct {
	broker, org, prefix, event string
	boxes, venues              int
	rates                      []float64     // fleet scans per second, one step each
	step                       time.Duration // how long each rate runs
	backlog                    int           // check-ins each box holds before it first connects
	outageEvery, outageFor     time.Duration
	reboot                     float64 // chance that an outage is a reboot
	drain                      time.Duration
	resend                     time.Duration
	batch, window              int
	seed                       uint64
}

func runLoadgen(args []string, stdout, stderr io.Writer) int {
	f := newFlags("loadgen", "-broker URL [-boxes N] [-rate R | -rates R1,R2,...] [-duration D] [flags]",
		"Plays N virtual boxes against an MQTT broker, as HQ sees real ones: each has its own\n"+
			"client, retained state and last will, an in-memory outbox numbered by boot and sequence,\n"+
			"live batches for new decisions and backlog batches (historical after an outage), resends\n"+
			"what HQ has not acknowledged within -resend and what HQ reports missing, and drops a\n"+
			"check-in only on HQ's ack. -rate is the scan rate of the whole fleet; -rates runs one step\n"+
			"of -duration per rate and reports the highest the fleet sustained (achieved within 5% and\n"+
			"ack delay p99 under 1 s). -backlog gives each box check-ins queued before it connects, for\n"+
			"HQ's ingest rate. -outage-every takes each box off the broker now and then (a reboot with\n"+
			"chance -reboot: a new boot, numbering from 1, the outbox kept). After the last step scanning\n"+
			"stops and loadgen waits up to -drain for every outbox to empty; it exits 0 when all did, 1\n"+
			"when some check-in was never acknowledged.")
	o := loadOpts{}
	f.StringVar(&o.broker, "broker", "", "MQTT broker URL (tcp://host:port)")
	f.StringVar(&o.org, "org", "loadgen-bank", "organisation of the virtual boxes")
	f.StringVar(&o.prefix, "prefix", "sim", "box ids are PREFIX-NNNN, venues PREFIX-venue-NNN")
	f.StringVar(&o.event, "event", "loadgen-event", "event id the check-ins name")
	f.IntVar(&o.boxes, "boxes", 10, "virtual boxes")
	f.IntVar(&o.venues, "venues", 0, "venues the boxes are spread over (default: one per 4 boxes)")
	rate := f.Float64("rate", 10, "scans per second over the whole fleet")
	rates := f.String("rates", "", "comma-separated fleet scan rates, one step of -duration each (overrides -rate)")
	f.DurationVar(&o.step, "duration", 10*time.Second, "how long each rate runs (0: no scanning, only -backlog)")
	f.IntVar(&o.backlog, "backlog", 0, "check-ins each box holds before it first connects")
	f.DurationVar(&o.outageEvery, "outage-every", 0, "mean time between a box's outages (0: none)")
	f.DurationVar(&o.outageFor, "outage-for", 3*time.Second, "how long an outage lasts")
	f.Float64Var(&o.reboot, "reboot", 0.3, "chance that an outage is a reboot")
	f.DurationVar(&o.drain, "drain", 60*time.Second, "how long to wait for the outboxes to empty after scanning")
	f.DurationVar(&o.resend, "resend", 5*time.Second, "resend a check-in not acknowledged within this")
	f.IntVar(&o.batch, "batch", 200, "check-ins per backlog batch (at most 500)")
	f.IntVar(&o.window, "window", 2000, "check-ins in flight per box")
	f.Uint64Var(&o.seed, "seed", 0, "random seed (0: a random one, printed)")
	asJSON := f.Bool("json", false, "print the report as JSON")
	verbose := f.Bool("v", false, "log each box's connections")
	if code, ok := f.parse(args, stdout, stderr); !ok {
		return code
	}
	if f.NArg() > 0 {
		return f.fail(stderr, exitUsage, fmt.Errorf("unexpected argument %q", f.Arg(0)))
	}
	o.rates = []float64{*rate}
	if *rates != "" {
		o.rates = nil
		for _, s := range strings.Split(*rates, ",") {
			r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil || r < 0 {
				return f.fail(stderr, exitUsage, fmt.Errorf("-rates: %q is not a rate", s))
			}
			o.rates = append(o.rates, r)
		}
	}
	if err := o.check(); err != nil {
		return f.fail(stderr, exitUsage, err)
	}
	if o.seed == 0 {
		o.seed = mrand.Uint64()
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := runFleet(ctx, o, log, func(line string) {
		if !*asJSON {
			fmt.Fprintln(stdout, line)
		}
	})
	if err != nil {
		return f.fail(stderr, exitFail, err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return f.fail(stderr, exitFail, err)
		}
	} else {
		rep.print(stdout)
	}
	if !rep.Drained {
		fmt.Fprintf(stderr, "venuebox loadgen: %d check-ins never acknowledged within -drain %v\n", rep.Queued, o.drain)
		return exitFail
	}
	return exitOK
}

func (o *loadOpts) check() error {
	switch {
	case o.broker == "":
		return errors.New("-broker URL is required")
	case o.boxes < 1 || o.boxes > 100000:
		return fmt.Errorf("-boxes %d: want 1 to 100000", o.boxes)
	case o.venues < 0:
		return fmt.Errorf("-venues %d: want at least 1", o.venues)
	case o.step < 0 || o.drain <= 0 || o.resend <= 0:
		return errors.New("-duration, -drain and -resend must be positive")
	case o.batch < 1 || o.batch > wire.MaxBatch:
		return fmt.Errorf("-batch %d: want 1 to %d", o.batch, wire.MaxBatch)
	case o.window < o.batch:
		return fmt.Errorf("-window %d is smaller than -batch %d", o.window, o.batch)
	case o.backlog < 0:
		return errors.New("-backlog must not be negative")
	case o.reboot < 0 || o.reboot > 1:
		return errors.New("-reboot is a chance from 0 to 1")
	case o.outageEvery < 0 || (o.outageEvery > 0 && o.outageFor <= 0):
		return errors.New("-outage-every and -outage-for must be positive")
	}
	for _, s := range []string{o.org, o.prefix + "-0000", o.event} {
		if err := wire.ValidID(s); err != nil {
			return fmt.Errorf("id %q: %w", s, err)
		}
	}
	if o.venues == 0 {
		o.venues = max(1, (o.boxes+3)/4)
	}
	o.venues = min(o.venues, o.boxes)
	return nil
}

// fleet is the virtual boxes and what they measured.
type fleet struct {
	o     loadOpts
	log   *slog.Logger
	start time.Time
	rate  atomic.Uint64 // fleet scans per second, as math.Float64bits
	scan  atomic.Bool   // scanning (false once the steps are over)

	mu       sync.Mutex
	step     int         // the step scanning now
	lat      [][]float64 // per step: ack delay of each check-in made in it, in ms
	acks     []int       // per step: check-ins acknowledged during it
	made     []int       // per step: check-ins made during it
	firstAck time.Time
	lastAck  time.Time

	sent, resent, batches, outages, reboots atomic.Int64
}

// entry is one check-in in a virtual box's outbox.
type entry struct {
	c     wire.CheckIn
	made  time.Time
	step  int       // -1: backlog
	sent  time.Time // zero: not in flight
	sends int
	acked bool
}

// vbox is one virtual box: its numbering, outbox and connection.
type vbox struct {
	f            *fleet
	id, venue    string
	rng          *mrand.Rand // under mu
	crng         *mrand.Rand // the connections goroutine's
	mu           sync.Mutex
	boot, seq    uint64
	session      uint64
	out          []*entry
	idx          map[string]*entry
	live         int // entries not acknowledged
	up           time.Time
	conn         *mqttconn.Conn
	lastSeq      map[uint64]uint64 // boot → last sequence number made
	wake         chan struct{}
	totalMade    int
	totalAcked   int
	ticketSerial int
}

func runFleet(ctx context.Context, o loadOpts, log *slog.Logger, progress func(string)) (*loadReport, error) {
	if _, err := mqttconn.New(mqttconn.Config{URL: o.broker, ClientID: "loadgen-check"}, log); err != nil {
		return nil, err
	}
	f := &fleet{o: o, log: log, start: time.Now(), lat: make([][]float64, len(o.rates)),
		acks: make([]int, len(o.rates)), made: make([]int, len(o.rates))}
	progress(fmt.Sprintf("loadgen: %d boxes at %d venues on %s, seed %d", o.boxes, o.venues, o.broker, o.seed))
	boxes := make([]*vbox, o.boxes)
	for i := range boxes {
		b := &vbox{f: f, id: fmt.Sprintf("%s-%04d", o.prefix, i), venue: fmt.Sprintf("%s-venue-%03d", o.prefix, i%o.venues),
			rng: mrand.New(mrand.NewPCG(o.seed, uint64(i))), crng: mrand.New(mrand.NewPCG(o.seed, uint64(i)|1<<40)), boot: 1, idx: map[string]*entry{},
			lastSeq: map[uint64]uint64{}, wake: make(chan struct{}, 1)}
		for range o.backlog {
			b.record(time.Now(), -1)
		}
		boxes[i] = b
	}
	f.setRate(0)
	if len(o.rates) > 0 && o.step > 0 {
		f.setRate(o.rates[0])
		f.scan.Store(true)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, b := range boxes {
		wg.Go(func() { b.run(runCtx) })
	}
	// The steps.
	scanStart := time.Now()
	if o.step > 0 {
		for i, r := range o.rates {
			f.mu.Lock()
			f.step = i
			f.mu.Unlock()
			f.setRate(r)
			select {
			case <-ctx.Done():
			case <-time.After(o.step):
			}
			if ctx.Err() != nil {
				break
			}
			s := f.stepReport(i)
			progress(fmt.Sprintf("step %d: target %.0f/s, made %.0f/s, acked %.0f/s, ack delay p50 %.0f ms p99 %.0f ms%s",
				i+1, s.Target, s.Achieved, s.AckRate, s.P50MS, s.P99MS, map[bool]string{true: " (sustained)", false: ""}[s.Sustained]))
		}
	}
	f.scan.Store(false)
	scanned := time.Since(scanStart)
	// The drain.
	drainStart := time.Now()
	deadline := time.After(o.drain)
	drained := false
wait:
	for {
		q := 0
		for _, b := range boxes {
			q += b.queued()
		}
		if q == 0 {
			drained = true
			break
		}
		select {
		case <-ctx.Done():
			break wait
		case <-deadline:
			break wait
		case <-time.After(20 * time.Millisecond):
		}
	}
	drainTime := time.Since(drainStart)
	cancel()
	wg.Wait()
	return f.report(boxes, scanned, drainTime, drained), nil
}

func (f *fleet) setRate(r float64) { f.rate.Store(uint64(r * 1000)) }
func (f *fleet) perBox() float64   { return float64(f.rate.Load()) / 1000 / float64(f.o.boxes) }

// nonce is like a box's: boot and sequence number and 8 random bytes, hex.
func nonce(boot, seq uint64) string {
	var b [24]byte
	binary.BigEndian.PutUint64(b[0:], boot)
	binary.BigEndian.PutUint64(b[8:], seq)
	rand.Read(b[16:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// record makes one decision and puts it in the outbox. The caller holds
// no lock.
func (b *vbox) record(now time.Time, step int) *entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	b.lastSeq[b.boot] = b.seq
	b.ticketSerial++
	ticket := fmt.Sprintf("%s-%d", b.id, b.ticketSerial)
	verdict, reason := "admitted", "ok"
	if b.rng.IntN(20) == 0 {
		verdict, reason = "rejected", "unknown"
	}
	in := sha256.Sum256([]byte(ticket))
	e := &entry{made: now, step: step, c: wire.CheckIn{Nonce: nonce(b.boot, b.seq), Box: b.id, Gate: b.id, Boot: b.boot, Seq: b.seq,
		Event: b.f.o.event, Ticket: ticket, Verdict: verdict, Reason: reason, At: now.UTC(), Input: hex.EncodeToString(in[:6])}}
	b.out = append(b.out, e)
	b.idx[e.c.Nonce] = e
	b.live++
	b.totalMade++
	return e
}

func (b *vbox) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.live
}

func (b *vbox) topic(k wire.Kind) string { return wire.BoxTopic(b.f.o.org, b.venue, b.id, k) }

func (b *vbox) state(online bool) *mqttconn.Message {
	b.mu.Lock()
	s := wire.State{Box: b.id, Online: online, Session: b.session, Software: "venuebox-loadgen", Queued: b.live, At: time.Now().UTC()}
	b.mu.Unlock()
	raw, err := wire.Encode(&s)
	if err != nil {
		return nil // a state of valid ids always encodes
	}
	return &mqttconn.Message{Topic: b.topic(wire.KindState), Payload: raw, QoS: 1, Retained: true}
}

// run plays the box until ctx ends: connected periods and outages, scans
// at the fleet's rate, live sends, the outbox pump.
func (b *vbox) run(ctx context.Context) {
	// Scans: each box at its share of the fleet's rate, from a random
	// phase; a box that falls behind makes the scans it owes at once, so
	// the rate achieved is what the machine could do.
	b.mu.Lock()
	phase := 100 * time.Millisecond
	if r := b.f.perBox(); r > 0 {
		phase = min(time.Second, time.Duration(float64(time.Second)/r))
	}
	next := time.Now().Add(time.Duration(b.rng.Float64() * float64(phase)))
	b.mu.Unlock()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { b.connections(ctx) })
	pump := time.NewTicker(500 * time.Millisecond)
	defer pump.Stop()
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-pump.C:
			b.pump(ctx)
		case <-b.wake:
			b.pump(ctx)
		case now := <-timer.C:
			r := b.f.perBox()
			if !b.f.scan.Load() || r <= 0 {
				next = now.Add(100 * time.Millisecond)
				timer.Reset(100 * time.Millisecond)
				continue
			}
			interval := time.Duration(float64(time.Second) / r)
			if now.Sub(next) > 2*time.Second {
				next = now // a pause (a slow machine) is not owed forever
			}
			var fresh []*entry
			for !next.After(now) {
				b.f.mu.Lock()
				step := b.f.step
				b.f.made[step]++
				b.f.mu.Unlock()
				fresh = append(fresh, b.record(now, step))
				next = next.Add(interval)
			}
			b.sendLive(ctx, fresh)
			timer.Reset(time.Until(next))
		}
	}
}

// connections keeps the box on the broker, with an outage now and then.
func (b *vbox) connections(ctx context.Context) {
	for ctx.Err() == nil {
		cctx, cancel := context.WithCancel(ctx)
		conn, err := b.connect()
		if err != nil {
			cancel()
			b.f.log.Error("box not connected", "box", b.id, "err", err)
			return
		}
		done := make(chan struct{})
		go func() { defer close(done); conn.Run(cctx) }()
		var outage <-chan time.Time
		if b.f.o.outageEvery > 0 {
			outage = time.After(time.Duration((0.5 + b.crng.Float64()) * float64(b.f.o.outageEvery)))
		}
		select {
		case <-ctx.Done():
		case <-outage:
		}
		cancel()
		<-done
		b.mu.Lock()
		b.conn, b.up = nil, time.Time{}
		b.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		b.f.outages.Add(1)
		if b.crng.Float64() < b.f.o.reboot {
			// A reboot: a new boot numbering from 1; the outbox, which a
			// real box keeps in bbolt, stays.
			b.mu.Lock()
			b.boot++
			b.seq = 0
			b.mu.Unlock()
			b.f.reboots.Add(1)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(b.f.o.outageFor):
		}
	}
}

func (b *vbox) connect() (*mqttconn.Conn, error) {
	b.mu.Lock()
	b.session++
	b.mu.Unlock()
	var conn *mqttconn.Conn // OnConnect names it
	conn, err := mqttconn.New(mqttconn.Config{URL: b.f.o.broker, ClientID: b.f.o.org + "/" + b.venue + "/" + b.id,
		MinBackoff: 200 * time.Millisecond, MaxBackoff: 2 * time.Second,
		Will: func() *mqttconn.Message { return b.state(false) }, Birth: func() *mqttconn.Message { return b.state(true) },
		Goodbye: func() *mqttconn.Message { return b.state(false) },
		OnConnect: func() {
			b.mu.Lock()
			b.conn, b.up = conn, time.Now()
			for _, e := range b.out {
				e.sent = time.Time{} // a new connection: everything not acknowledged goes again
			}
			b.mu.Unlock()
			select {
			case b.wake <- struct{}{}:
			default:
			}
		},
		OnLost: func(error) {
			b.mu.Lock()
			b.conn, b.up = nil, time.Time{}
			b.mu.Unlock()
		},
	}, b.f.log)
	if err != nil {
		return nil, err
	}
	if err := conn.Subscribe(b.topic(wire.KindAck), 1, b.onAck); err != nil {
		return nil, err
	}
	return conn, nil
}

func (b *vbox) onAck(m mqttconn.Message) {
	var a wire.Ack
	if err := wire.Decode(m.Payload, &a); err != nil || a.Box != b.id {
		b.f.log.Warn("ack refused", "box", b.id, "err", wire.Refusal(err, a.Box, b.id))
		return
	}
	now := time.Now()
	type lat struct {
		step int
		ms   float64
	}
	var got []lat
	b.mu.Lock()
	for _, n := range a.Nonces {
		e, ok := b.idx[n]
		if !ok {
			continue // acknowledged before (a duplicate's ack)
		}
		delete(b.idx, n)
		e.acked = true
		b.live--
		b.totalAcked++
		got = append(got, lat{e.step, float64(now.Sub(e.made).Microseconds()) / 1000})
	}
	// What HQ misses becomes eligible again if it was sent more than a
	// moment ago (a batch overtaken by a later one is not lost).
	cut := now.Add(-time.Second)
	for _, r := range a.Missing {
		for _, e := range b.out {
			if !e.acked && e.c.Boot == r.Boot && e.c.Seq >= r.From && e.c.Seq <= r.To && !e.sent.IsZero() && e.sent.Before(cut) {
				e.sent = time.Time{}
			}
		}
	}
	if len(b.out) > 64 && b.live < len(b.out)/2 {
		b.out = slices.DeleteFunc(b.out, func(e *entry) bool { return e.acked })
	}
	b.mu.Unlock()
	if len(got) == 0 {
		return
	}
	f := b.f
	f.mu.Lock()
	if f.firstAck.IsZero() {
		f.firstAck = now
	}
	f.lastAck = now
	for _, l := range got {
		if l.step >= 0 {
			f.lat[l.step] = append(f.lat[l.step], l.ms)
			if f.scan.Load() {
				f.acks[f.step]++ // acknowledged during the step scanning now
			}
		}
	}
	f.mu.Unlock()
}

// sendLive publishes new decisions at once, in a batch of their own.
func (b *vbox) sendLive(ctx context.Context, es []*entry) {
	b.mu.Lock()
	conn := b.conn
	b.mu.Unlock()
	if conn == nil {
		return // offline: they wait in the outbox
	}
	for len(es) > 0 {
		n := min(len(es), b.f.o.batch)
		if err := b.send(ctx, conn, es[:n], false); err != nil {
			return
		}
		es = es[n:]
	}
}

// pump sends what the outbox holds that is not in flight (or was sent
// more than -resend ago), oldest first, within the window.
func (b *vbox) pump(ctx context.Context) {
	now := time.Now()
	b.mu.Lock()
	conn, up := b.conn, b.up
	if conn == nil {
		b.mu.Unlock()
		return
	}
	var hist, fresh []*entry
	seen := 0
	for _, e := range b.out {
		if e.acked {
			continue
		}
		if seen++; seen > b.f.o.window {
			break
		}
		if !e.sent.IsZero() && now.Sub(e.sent) < b.f.o.resend {
			continue
		}
		if e.made.Before(up) {
			hist = append(hist, e)
		} else {
			fresh = append(fresh, e)
		}
	}
	b.mu.Unlock()
	for _, part := range []struct {
		es   []*entry
		hist bool
	}{{fresh, false}, {hist, true}} {
		for es := part.es; len(es) > 0; {
			n := min(len(es), b.f.o.batch)
			if err := b.send(ctx, conn, es[:n], part.hist); err != nil {
				return
			}
			es = es[n:]
		}
	}
}

func (b *vbox) send(ctx context.Context, conn *mqttconn.Conn, es []*entry, historical bool) error {
	now := time.Now()
	batch := wire.Batch{Box: b.id, Historical: historical, Sent: now.UTC(), CheckIns: make([]wire.CheckIn, len(es))}
	b.mu.Lock()
	for i, e := range es {
		batch.CheckIns[i] = e.c
		if e.sends > 0 {
			b.f.resent.Add(1)
		}
		e.sends++
		e.sent = now
	}
	b.mu.Unlock()
	raw, err := wire.Encode(&batch)
	if err != nil {
		return fmt.Errorf("loadgen: encode: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := conn.Publish(pctx, mqttconn.Message{Topic: b.topic(wire.KindCheckins), Payload: raw, QoS: 1}); err != nil {
		b.mu.Lock()
		for _, e := range es {
			e.sent = time.Time{}
		}
		b.mu.Unlock()
		return err
	}
	b.f.sent.Add(int64(len(es)))
	b.f.batches.Add(1)
	return nil
}

// loadReport is what one run measured.
type loadReport struct {
	Broker    string `json:"broker"`
	Boxes     int    `json:"boxes"`
	Venues    int    `json:"venues"`
	Seed      uint64 `json:"seed"`
	Generated int    `json:"generated"`
	Acked     int    `json:"acked"`
	Queued    int    `json:"queued"`
	Drained   bool   `json:"drained"`
	// ScanSeconds is how long the boxes scanned; DrainSeconds how long
	// the outboxes took to empty after that.
	ScanSeconds  float64 `json:"scan_seconds"`
	DrainSeconds float64 `json:"drain_seconds"`
	// IngestRate is check-ins acknowledged per second from HQ's first ack
	// to its last.
	IngestRate float64      `json:"ingest_rate"`
	Steps      []stepReport `json:"steps,omitempty"`
	// SustainedRate is the highest step rate the fleet sustained: made
	// within 5% of the target, acknowledged as fast, ack delay p99 < 1 s.
	SustainedRate float64     `json:"sustained_rate"`
	Sent          int64       `json:"sent"`
	Resent        int64       `json:"resent"`
	Batches       int64       `json:"batches"`
	Outages       int64       `json:"outages"`
	Reboots       int64       `json:"reboots"`
	PerBox        []boxReport `json:"per_box"`
}

type stepReport struct {
	Target    float64 `json:"target"`
	Achieved  float64 `json:"achieved"`
	AckRate   float64 `json:"ack_rate"`
	P50MS     float64 `json:"ack_p50_ms"`
	P99MS     float64 `json:"ack_p99_ms"`
	MaxMS     float64 `json:"ack_max_ms"`
	Sustained bool    `json:"sustained"`
}

// boxReport is one box's numbering: the last sequence number of each boot
// it made, so that HQ's store can be checked for every one of them.
type boxReport struct {
	Box    string            `json:"box"`
	Venue  string            `json:"venue"`
	Boots  map[uint64]uint64 `json:"boots"`
	Made   int               `json:"made"`
	Acked  int               `json:"acked"`
	Queued int               `json:"queued"`
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

func (f *fleet) stepReport(i int) stepReport {
	f.mu.Lock()
	lat := slices.Clone(f.lat[i])
	acks, made := f.acks[i], f.made[i]
	f.mu.Unlock()
	slices.Sort(lat)
	secs := f.o.step.Seconds()
	s := stepReport{Target: f.o.rates[i], Achieved: float64(made) / secs, AckRate: float64(acks) / secs,
		P50MS: percentile(lat, 0.5), P99MS: percentile(lat, 0.99)}
	if len(lat) > 0 {
		s.MaxMS = lat[len(lat)-1]
	}
	// Check-ins made late in the step are acknowledged after it: the p99
	// is over those acknowledged by now, so a step is sustained only if
	// nearly all of them were.
	s.Sustained = s.Target > 0 && s.Achieved >= 0.95*s.Target && s.AckRate >= 0.95*s.Target &&
		s.P99MS < 1000 && float64(len(lat)) >= 0.95*float64(made)
	return s
}

func (f *fleet) report(boxes []*vbox, scanned, drain time.Duration, drained bool) *loadReport {
	r := &loadReport{Broker: f.o.broker, Boxes: f.o.boxes, Venues: f.o.venues, Seed: f.o.seed, Drained: drained,
		ScanSeconds: scanned.Seconds(), DrainSeconds: drain.Seconds(), Sent: f.sent.Load(), Resent: f.resent.Load(),
		Batches: f.batches.Load(), Outages: f.outages.Load(), Reboots: f.reboots.Load()}
	for _, b := range boxes {
		b.mu.Lock()
		br := boxReport{Box: b.id, Venue: b.venue, Boots: map[uint64]uint64{}, Made: b.totalMade, Acked: b.totalAcked, Queued: b.live}
		for boot, seq := range b.lastSeq {
			br.Boots[boot] = seq
		}
		b.mu.Unlock()
		r.Generated += br.Made
		r.Acked += br.Acked
		r.Queued += br.Queued
		r.PerBox = append(r.PerBox, br)
	}
	f.mu.Lock()
	if span := f.lastAck.Sub(f.firstAck); span > 0 {
		r.IngestRate = float64(r.Acked) / span.Seconds()
	}
	f.mu.Unlock()
	if f.o.step > 0 {
		for i := range f.o.rates {
			s := f.stepReport(i)
			r.Steps = append(r.Steps, s)
			if s.Sustained && s.Target > r.SustainedRate {
				r.SustainedRate = s.Target
			}
		}
	}
	return r
}

func (r *loadReport) print(w io.Writer) {
	fmt.Fprintf(w, "made %d check-ins, %d acknowledged, %d still queued; outboxes drained: %v (%.1f s after scanning stopped)\n",
		r.Generated, r.Acked, r.Queued, r.Drained, r.DrainSeconds)
	fmt.Fprintf(w, "HQ acknowledged %.0f check-ins/s from its first ack to its last; %d sent (%d again), %d batches, %d outages, %d reboots\n",
		r.IngestRate, r.Sent, r.Resent, r.Batches, r.Outages, r.Reboots)
	if len(r.Steps) > 0 {
		fmt.Fprintf(w, "highest sustained rate: %.0f check-ins/s\n", r.SustainedRate)
	}
}
