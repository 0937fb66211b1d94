package main

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"venuebox/cmd/internal/box"
	"venuebox/cmd/internal/ticket"
	"venuebox/store/hqstore"
	"venuebox/sync/mqttconn"
	"venuebox/sync/mqtttest"
	"venuebox/sync/wire"
)

// scanKind says what a planned scan presents and so what it must get.
type scanKind int

const (
	fresh   scanKind = iota // a ticket of the manifest never scanned: admitted ok
	expired                 // a signed code whose window has passed: rejected expired
	unknown                 // an unsigned code no manifest lists: rejected unknown
	rescan                  // a ticket this gate admitted before: a repeat, or already-used
)

// answer is one scan a box answered with a recorded check-in.
type answer struct {
	box, kind, ticket, verdict, reason string
}

// soakGate is one box under the soak: its process, its planned scans and
// what it answered.
type soakGate struct {
	*proc
	plan []scanItem

	// gen grows each time the test kills the box; killing is set while it
	// is down. A scan that fails is expected only if either changed.
	gen     atomic.Int64
	killing atomic.Bool

	mu       sync.Mutex
	admitted []string // codes admitted here, for rescans
	answered map[string]answer
	lost     int // scans cut off by a kill: maybe recorded, never answered
}

type scanItem struct {
	kind scanKind
	code string
}

// TestSoak_exactlyOnce runs HQ and three boxes (gate-1 and gate-2 at the
// event's venue, which share admissions; gate-3 at a second venue, which
// shares nothing with them) on a real Mosquitto with persistence and scans
// 10,000 codes over the boxes' APIs from concurrent goroutines, while the
// broker is stopped and started twice, HQ is SIGKILLed and started again,
// and gate-1 is SIGKILLed and started again. During the second broker
// outage gate-1 and gate-2 are cut off from each other, and a few chosen
// tickets are scanned at both: each gate admits them. Afterwards every outbox is empty, HQ's attendance
// holds every check-in the boxes answered with a nonce exactly once, HQ's
// store holds exactly as many check-ins as the boxes recorded, and the
// conflicts are exactly the chosen tickets.
func TestSoak_exactlyOnce(t *testing.T) {
	const (
		total       = 10000
		tickets     = 9000
		chosen      = 5 // tickets admitted at both gates during the partition
		perGate     = (total - 2*chosen) / 3
		expiredEach = 90
		unknownEach = 90
		rescanEach  = 160
		workers     = 4 // concurrent scanners per gate
	)
	start := time.Now()
	// Plain daemons: race-built ones are about three times slower, and
	// this test is about throughput and crashes. The smaller tests run
	// race-built daemons.
	f := newFixture(t, tickets, false)
	broker := mqtttest.Start(t, &mqtttest.Options{Persistence: true})
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 11))

	// Count how many batches carry each check-in: a check-in in more than
	// one was sent again (no ack in time, a lost ack, a restart), and HQ
	// must hold it once all the same.
	var sentMu sync.Mutex
	sent := map[string]int{}
	subscribe(t, broker.URL, "observer", wire.AllBoxesFilter(wire.KindCheckins), func(m mqttconn.Message) {
		var b wire.Batch
		if err := wire.Decode(m.Payload, &b); err != nil {
			t.Errorf("a box sent a batch that does not decode: %v", err)
			return
		}
		sentMu.Lock()
		for _, c := range b.CheckIns {
			sent[c.Nonce]++
		}
		sentMu.Unlock()
	})

	hq := f.hq(broker.URL)
	gates := []*soakGate{
		{proc: f.box("gate-1", "demo-venue", broker.URL), answered: map[string]answer{}},
		{proc: f.box("gate-2", "demo-venue", broker.URL), answered: map[string]answer{}},
		{proc: f.box("gate-3", "demo-annex", broker.URL), answered: map[string]answer{}},
	}
	g1, g2 := gates[0], gates[1]
	eventually(t, "HQ sees the three boxes online", 30*time.Second, func() bool {
		var fleet []fleetRow
		getJSON(t, f.client, hq.api+"/api/boxes", &fleet)
		n := 0
		for _, b := range fleet {
			if b.Online {
				n++
			}
		}
		return n == 3
	})

	// The plan: disjoint fresh tickets per gate, so that only the chosen
	// tickets can ever be admitted twice; expired and unknown codes for
	// rejections with and without an event; rescans of the gate's own
	// admissions.
	pool := f.codes[:tickets-chosen]
	conflictCodes := f.codes[tickets-chosen:]
	freshEach := perGate - expiredEach - unknownEach - rescanEach
	if 3*freshEach > len(pool) {
		t.Fatalf("plan needs %d fresh tickets, the manifest has %d", 3*freshEach, len(pool))
	}
	past := time.Now().Add(-3 * time.Hour)
	for gi, g := range gates {
		for i := range freshEach {
			g.plan = append(g.plan, scanItem{fresh, pool[gi*freshEach+i]})
		}
		for i := range expiredEach {
			code, err := ticket.Sign(f.priv, ticket.Claims{Event: box.DemoEvent, Number: uint64(100000 + gi*1000 + i), From: past, Until: past.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			g.plan = append(g.plan, scanItem{expired, code})
		}
		for i := range unknownEach {
			g.plan = append(g.plan, scanItem{unknown, fmt.Sprintf("CRM-%d-%06d", gi, i)})
		}
		for range rescanEach {
			g.plan = append(g.plan, scanItem{kind: rescan})
		}
		rng.Shuffle(len(g.plan), func(i, j int) { g.plan[i], g.plan[j] = g.plan[j], g.plan[i] })
	}

	var done atomic.Int64 // scans finished, answered or not
	var wg sync.WaitGroup
	stop := make(chan struct{})
	// Registered after the fixture's, so it runs first: a test that fails
	// early stops its scanners before the daemons go.
	t.Cleanup(func() { close(stop); wg.Wait() })
	for gi, g := range gates {
		items := make(chan scanItem)
		wg.Go(func() {
			defer close(items)
			for _, it := range g.plan {
				select {
				case items <- it:
				case <-stop:
					return
				}
			}
		})
		for w := range workers {
			wrng := rand.New(rand.NewPCG(uint64(seed), uint64(100*gi+w)))
			wg.Go(func() {
				for it := range items {
					f.soakScan(g, it, wrng, stop)
					done.Add(1)
				}
			})
		}
	}

	// The disruptions, driven by progress rather than by time, so that a
	// slow machine sees the same story.
	at := func(n int64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Minute); done.Load() < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the scans stalled at %d of %d", done.Load(), n)
			}
		}
	}
	logPhase := func(what string) {
		t.Logf("%6.1fs %5d scans: %s", time.Since(start).Seconds(), done.Load(), what)
	}
	logPhase("scanning")
	at(1000)
	broker.Stop()
	logPhase("broker stopped")
	at(1600)
	broker.Start()
	logPhase("broker started again")
	at(2500)
	hq.kill()
	logPhase("HQ SIGKILLed")
	at(3500)
	f.restart(hq)
	logPhase("HQ started again")
	at(5000)
	g1.killing.Store(true)
	g1.gen.Add(1)
	g1.kill()
	logPhase("gate-1 SIGKILLed")
	f.restart(g1.proc)
	g1.killing.Store(false)
	logPhase("gate-1 started again")
	at(6500)
	broker.Stop()
	logPhase("broker stopped: demo-venue's two gates cut off from each other")
	partition := map[string][]string{} // ticket → nonces of its admissions
	for _, code := range conflictCodes {
		for _, g := range []*soakGate{g1, g2} {
			v, err := f.scan(g.proc, code)
			if err != nil {
				t.Fatalf("partition scan at %s: %v", g.name, err)
			}
			if v.Verdict != "admitted" || v.Reason != "ok" || v.Nonce == "" {
				t.Fatalf("partition scan of ticket %s at %s: %s %s (nonce %q): cut off from the other gate, it must admit", v.Ticket, g.name, v.Verdict, v.Reason, v.Nonce)
			}
			g.mu.Lock()
			g.answered[v.Nonce] = answer{box: g.name, kind: "partition", ticket: v.Ticket, verdict: v.Verdict, reason: v.Reason}
			g.mu.Unlock()
			partition[v.Ticket] = append(partition[v.Ticket], v.Nonce)
		}
	}
	logPhase(fmt.Sprintf("%d tickets admitted at both gates", len(conflictCodes)))
	at(7200)
	broker.Start()
	logPhase("broker started again")
	wg.Wait()
	logPhase("every scan answered")

	// Every outbox drains.
	eventually(t, "every outbox empties", 120*time.Second, func() bool {
		for _, g := range gates {
			s, err := f.status(g.proc)
			if err != nil || s.Queued != 0 {
				return false
			}
		}
		return true
	})
	logPhase("every outbox empty")

	// HQ's attendance: every answered check-in of the event once, each as
	// the box answered it, and no nonce twice.
	answered := map[string]answer{}
	recorded := 0
	for _, g := range gates {
		s, err := f.status(g.proc)
		if err != nil {
			t.Fatal(err)
		}
		n := s.Counts.Admitted + s.Counts.Rejected + s.Counts.Held
		recorded += n
		g.mu.Lock()
		switch {
		case g == g1 && (n < len(g.answered) || n > len(g.answered)+g.lost):
			t.Errorf("%s recorded %d check-ins; it answered %d and %d scans were cut off", g.name, n, len(g.answered), g.lost)
		case g != g1 && n != len(g.answered):
			t.Errorf("%s recorded %d check-ins and answered %d", g.name, n, len(g.answered))
		}
		for k, v := range g.answered {
			answered[k] = v
		}
		g.mu.Unlock()
	}
	var att []attendanceRow
	if err := fetchJSON(f.client, hq.api+"/api/events/"+box.DemoEvent+"/attendance", &att); err != nil {
		t.Fatal(err)
	}
	held := map[string]int{}
	for _, a := range att {
		held[a.Nonce]++
		if held[a.Nonce] == 2 {
			t.Errorf("HQ's attendance lists check-in %s twice", a.Nonce)
		}
		if want, ok := answered[a.Nonce]; ok && (want.box != a.Box || want.ticket != a.Ticket || want.verdict != a.Verdict || want.reason != a.Reason) {
			t.Errorf("HQ holds %s as %s/%s/%s/%s; %s answered %s/%s/%s", a.Nonce, a.Box, a.Ticket, a.Verdict, a.Reason, want.box, want.ticket, want.verdict, want.reason)
		}
	}
	inEvent := 0
	for nonce, a := range answered {
		if a.kind == "unknown" {
			continue // no event: in HQ's store (checked below), in no event's attendance
		}
		inEvent++
		if held[nonce] != 1 {
			t.Errorf("%s's %s check-in %s (ticket %s, %s %s) held %d times in HQ's attendance", a.box, a.kind, nonce, a.ticket, a.verdict, a.reason, held[nonce])
		}
	}

	// Conflicts: exactly the chosen tickets, each admitted once at gate-1
	// and once at gate-2.
	var cf []conflictRow
	if err := fetchJSON(f.client, hq.api+"/api/events/"+box.DemoEvent+"/conflicts", &cf); err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, c := range cf {
		for _, a := range c.Admissions {
			got[c.Ticket] = append(got[c.Ticket], a.Nonce)
		}
	}
	for tk := range got {
		slices.Sort(got[tk])
	}
	for tk := range partition {
		slices.Sort(partition[tk])
	}
	if fmt.Sprint(got) != fmt.Sprint(partition) {
		t.Errorf("conflicts (ticket → nonces):\n got  %v\n want %v", got, partition)
	}

	// The fleet view settles: every box online with nothing queued.
	eventually(t, "HQ's fleet view shows every box online with nothing queued", 60*time.Second, func() bool {
		var fleet []fleetRow
		getJSON(t, f.client, hq.api+"/api/boxes", &fleet)
		n := 0
		for _, b := range fleet {
			if b.Online && b.Queued == 0 {
				n++
			}
		}
		return n == 3
	})

	// HQ's store holds exactly what the boxes recorded, each once: also the
	// rejections of unknown codes, which belong to no event, and the
	// check-ins that a kill cut off before the scanner saw them.
	hq.kill()
	hs, err := hqstore.Open(filepath.Join(f.dir, "hq", "hq.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	if err := hs.Check(); err != nil {
		t.Error(err)
	}
	count, err := hs.Count()
	if err != nil {
		t.Fatal(err)
	}
	if count != recorded {
		t.Errorf("HQ's store holds %d check-ins; the boxes recorded %d", count, recorded)
	}
	for nonce, a := range answered {
		c, ok, err := hs.Get(nonce)
		if err != nil || !ok || c.Box != a.box || c.Verdict != a.verdict || c.Reason != a.reason {
			t.Errorf("HQ's store: %s's check-in %s: %+v %v %v", a.box, nonce, c, ok, err)
		}
	}
	f.checkLogs()

	sentMu.Lock()
	resent := 0
	for _, n := range sent {
		if n > 1 {
			resent++
		}
	}
	sentMu.Unlock()
	kinds := map[string]int{}
	for _, a := range answered {
		kinds[a.kind+" "+a.verdict+" "+a.reason]++
	}
	keys := make([]string, 0, len(kinds))
	for k := range kinds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	summary := ""
	for _, k := range keys {
		summary += fmt.Sprintf("\n  %5d %s", kinds[k], k)
	}
	t.Logf("%d scans, %d answered with a check-in (%d of the event at HQ once each), %d recorded, %d cut off by the kill; "+
		"%d check-ins seen in more than one batch; HQ holds %d; conflicts %d; race-built daemons: %v; %v in all%s",
		done.Load()+2*chosen, len(answered), inEvent, recorded, g1.lost, resent, count, len(cf), f.race, time.Since(start).Round(100*time.Millisecond), summary)
}

// soakScan makes one planned scan at g and checks the verdict against
// what the plan says it must be.
func (f *fixture) soakScan(g *soakGate, it scanItem, rng *rand.Rand, stop <-chan struct{}) {
	t := f.t
	if it.kind == rescan {
		g.mu.Lock()
		if len(g.admitted) == 0 {
			it = scanItem{unknown, fmt.Sprintf("CRM-early-%s-%d", g.name, rng.Int64())}
		} else {
			it.code = g.admitted[rng.IntN(len(g.admitted))]
		}
		g.mu.Unlock()
	}
	gen := g.gen.Load()
	v, err := f.scan(g.proc, it.code)
	if err != nil {
		if g.killing.Load() || g.gen.Load() != gen {
			// Cut off by the kill: maybe recorded, never answered. Wait
			// for the box to come back; the code is not scanned again.
			g.mu.Lock()
			g.lost++
			g.mu.Unlock()
			for g.killing.Load() {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
			return
		}
		select {
		case <-stop:
			return // the test is over
		default:
		}
		t.Errorf("%s: %v", g.name, err)
		return
	}
	kind := [...]string{"fresh", "expired", "unknown", "rescan"}[it.kind]
	ok := false
	switch it.kind {
	case fresh:
		ok = v.Verdict == "admitted" && v.Reason == "ok" && !v.Repeat && v.Event == box.DemoEvent
	case expired:
		ok = v.Verdict == "rejected" && v.Reason == "expired" && v.Event == box.DemoEvent
	case unknown:
		ok = v.Verdict == "rejected" && v.Reason == "unknown" && v.Event == ""
	case rescan:
		// Within the double-scan window a repeat of the admission that
		// records nothing; after it, or after a restart, already-used.
		// (A repeat repeats the gate's last decision on the code: its
		// admission, or another rescan's already-used.)
		ok = v.Verdict == "admitted" && v.Reason == "ok" && v.Repeat ||
			v.Verdict == "rejected" && v.Reason == "already-used" && (v.Repeat || v.PriorGate == g.name)
	}
	if !ok || (v.Nonce == "") != v.Repeat {
		t.Errorf("%s: %s scan of ticket %q: %s %s (repeat %v, nonce %q, prior gate %q)", g.name, kind, v.Ticket, v.Verdict, v.Reason, v.Repeat, v.Nonce, v.PriorGate)
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if v.Nonce != "" {
		if _, dup := g.answered[v.Nonce]; dup {
			t.Errorf("%s answered nonce %s twice", g.name, v.Nonce)
		}
		g.answered[v.Nonce] = answer{box: g.name, kind: kind, ticket: v.Ticket, verdict: v.Verdict, reason: v.Reason}
	}
	if it.kind == fresh {
		g.admitted = append(g.admitted, it.code)
	}
}
