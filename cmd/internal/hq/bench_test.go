package hq

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/issuing"
	"venuebox/cmd/internal/ticket"
	"venuebox/store/hqstore"
)

// The benchmarks of HQ's event desk at 100,000 attendees, each beside a
// floor measured in the same run (scripts/bench prints them):
//
//   - BenchmarkImport100k: POST /api/events/{event}/attendees with a GBK
//     CSV of 100,000 rows with Chinese names, into a new event of an HQ on
//     bbolt (no broker): the rows read and checked, 100,000 codes signed
//     and stored, the manifest built (holders sealed under their codes and
//     card UIDs), signed, verified and kept. Floor: the same file through
//     issuing.ReadCSV, then 100,000 ticket.Sign and the ticket.Seal of each
//     holder (and of each card holder under its UID): the parsing and the
//     cryptography the import cannot do without, nothing stored.
//   - BenchmarkDashboard100k: GET /api/events/{event}/summary (what the
//     dashboard fetches and draws; the page itself is static) for that
//     event with 100,000 check-ins ingested. Floor: hqstore's Attendance,
//     the plain scan of the event's 100,000 check-ins, in the same loop.

const (
	benchEventID = "bench-100k"
	benchRows    = 100_000
	benchEvent   = `{"id":"` + benchEventID + `","name":"财富管理客户答谢会","venue":"sh-pudong",
 "start":"2026-06-01T08:00:00+08:00","end":"2026-06-01T18:00:00+08:00","zones":["main","vip-lounge"],
 "classes":[{"name":"standard"},{"name":"vip","benefit":"积分","points":200}],"vip_levels":["gold","platinum"]}`
)

// benchHQ is an HQ on bbolt without a broker, serving on loopback.
type benchHQ struct {
	h    *HQ
	api  string
	priv ed25519.PrivateKey
	stop func() error
}

func startBenchHQ(b *testing.B, dir string) *benchHQ {
	b.Helper()
	if _, err := ticket.GenerateKey(dir); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(testToken), 0o600); err != nil {
		b.Fatal(err)
	}
	priv, err := ticket.LoadPrivateKey(filepath.Join(dir, "signing.key"))
	if err != nil {
		b.Fatal(err)
	}
	h, err := Start(&config.HQ{StateDir: filepath.Join(dir, "hq"), HTTP: config.HTTP{Listen: "127.0.0.1:0"},
		SigningKey: filepath.Join(dir, "signing.key"), TokenFile: filepath.Join(dir, "token"),
		Store: config.Store{Driver: config.StoreBbolt}}, quiet())
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	d := &benchHQ{h: h, api: "http://" + h.Addr.String(), priv: priv}
	d.stop = sync.OnceValue(func() error { cancel(); return <-done })
	if code, body := d.do("POST", "/api/events", []byte(benchEvent)); code != http.StatusCreated {
		d.stop()
		b.Fatalf("create event: %d %s", code, body)
	}
	return d
}

// cpuTime is the process's CPU time so far, user and system: unlike the
// wall clock, it does not count the time other processes on the machine
// took the CPU.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// do sends a request with the HQ token and returns the status and body.
func (d *benchHQ) do(method, path string, body []byte) (int, []byte) {
	req, _ := http.NewRequest(method, d.api+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// benchCSV is an attendee file of n rows as a Chinese Excel saves it
// (GBK): two- and three-character Chinese names, unique mobile numbers
// written 138-1234-5678 or 13812345678, member levels (1% platinum, 3%
// gold, 10% silver), a card UID on one row in ten and class vip on one in
// ten.
func benchCSV(b *testing.B, n int) []byte {
	var sb strings.Builder
	sb.WriteString("name,phone,member_level,card_uid,ticket_class\r\n")
	for i := range n {
		name := string(surnames[i%len(surnames)]) + string(given[(i*7)%len(given)])
		if i%3 != 0 {
			name += string(given[(i*13+5)%len(given)])
		}
		phone := fmt.Sprintf("139%08d", 10_000_000+i*37)
		if i%2 == 0 {
			phone = phone[:3] + "-" + phone[3:7] + "-" + phone[7:]
		}
		level := ""
		switch i % 100 {
		case 0:
			level = "platinum"
		case 1, 2, 3:
			level = "gold"
		case 4, 5, 6, 7, 8, 9, 10, 11, 12, 13:
			level = "silver"
		}
		uid := ""
		if i%10 == 3 {
			uid = fmt.Sprintf("04:%02x:%02x:%02x:%02x", byte(i>>24), byte(i>>16), byte(i>>8), byte(i))
		}
		class := "standard"
		if i%10 == 0 {
			class = "vip"
		}
		fmt.Fprintf(&sb, "%s,%s,%s,%s,%s\r\n", name, phone, level, uid, class)
	}
	gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	return gbk
}

// heapPeak samples the heap every millisecond (runtime/metrics, which
// does not stop the world as runtime.ReadMemStats does) until stopped: the
// high-water of the heap's objects (HeapAlloc: live and not yet swept) and
// of the live heap as the GCs during the run marked it.
type heapPeak struct {
	stopc      chan struct{}
	done       chan struct{}
	alloc, gcs uint64 // high-waters, bytes
	base       uint64
}

var heapMetrics = []string{"/memory/classes/heap/objects:bytes", "/gc/heap/live:bytes"}

func readHeap(s []metrics.Sample) (alloc, live uint64) {
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

// sampleHeap collects garbage, then samples until stop.
func sampleHeap() *heapPeak {
	runtime.GC()
	p := &heapPeak{stopc: make(chan struct{}), done: make(chan struct{})}
	s := make([]metrics.Sample, len(heapMetrics))
	for i, name := range heapMetrics {
		s[i].Name = name
	}
	base, live0 := readHeap(s)
	p.base = base
	go func() {
		defer close(p.done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			a, l := readHeap(s)
			p.alloc = max(p.alloc, a)
			if l != live0 { // a GC ran during the run
				p.gcs = max(p.gcs, l)
			}
			select {
			case <-p.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *heapPeak) stop() *heapPeak {
	close(p.stopc)
	<-p.done
	return p
}

const mb = 1 << 20

// BenchmarkImport100k imports and issues 100,000 attendees into a new
// event of a fresh HQ each iteration, through POST
// /api/events/{event}/attendees on loopback, and beside it the floor
// (see the top of this file). It reports the import's wall and CPU time
// (the process's, GC included), the peak heap during it, what HQ still
// holds after it (the event's manifest in its library), the signed
// manifest's size, the floor's times and peak heap, and the ratios. This
// machine may be shared: the CPU ratio is the steadier one.
func BenchmarkImport100k(b *testing.B) {
	csv := benchCSV(b, benchRows)
	var imp, floor, impCPU, floorCPU, fcsv, fsign, fseal time.Duration
	var peak, live, held, fpeak, base, manifestBytes uint64
	n := 0
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		d := startBenchHQ(b, dir)
		priv := d.priv
		hp := sampleHeap()
		b.StartTimer()
		t0, c0 := time.Now(), cpuTime()
		code, body := d.do("POST", "/api/events/"+benchEventID+"/attendees", csv)
		dt, dc := time.Since(t0), cpuTime()-c0
		b.StopTimer()
		hp.stop()
		var rep ImportReport
		if code != http.StatusOK || json.Unmarshal(body, &rep) != nil || rep.Accepted != benchRows || len(rep.Rejected) != 0 || rep.Manifest == nil {
			d.stop()
			b.Fatalf("import: %d %.300s", code, body)
		}
		fi, err := os.Stat(filepath.Join(dir, "hq", "manifests", benchEventID+".json"))
		if err != nil {
			d.stop()
			b.Fatal(err)
		}
		manifestBytes = uint64(fi.Size())
		time.Sleep(100 * time.Millisecond) // the handler's last steps (HQ's log) after the answer
		after := sampleHeap().stop()       // HQ running, holding the event's manifest
		imp, impCPU = imp+dt, impCPU+dc
		peak, live, base = max(peak, hp.alloc), max(live, hp.gcs), hp.base
		if n == 0 || after.base-hp.base < held {
			held = after.base - hp.base
		}
		if err := d.stop(); err != nil {
			b.Fatal(err)
		}
		d = nil
		os.RemoveAll(dir)

		fp := sampleHeap()
		c0 = cpuTime()
		c, s, e := importFloor(b, priv, csv)
		floorCPU += cpuTime() - c0
		fp.stop()
		floor += c + s + e
		fcsv, fsign, fseal = fcsv+c, fsign+s, fseal+e
		fpeak = max(fpeak, fp.alloc)
		n++
		b.StartTimer()
	}
	per := func(d time.Duration) float64 { return d.Seconds() / float64(n) }
	b.ReportMetric(per(imp), "import-s")
	b.ReportMetric(per(floor), "floor-s")
	b.ReportMetric(imp.Seconds()/floor.Seconds(), "ratio")
	b.ReportMetric(per(impCPU), "import-cpu-s")
	b.ReportMetric(per(floorCPU), "floor-cpu-s")
	b.ReportMetric(impCPU.Seconds()/floorCPU.Seconds(), "cpu-ratio")
	b.ReportMetric(per(fcsv), "floor-csv-s")
	b.ReportMetric(per(fsign), "floor-sign-s")
	b.ReportMetric(per(fseal), "floor-seal-s")
	b.ReportMetric(float64(peak)/mb, "peak-heap-MB")
	b.ReportMetric(float64(live)/mb, "peak-live-MB")
	b.ReportMetric(float64(base)/mb, "base-heap-MB")
	b.ReportMetric(float64(held)/mb, "held-MB")
	b.ReportMetric(float64(fpeak)/mb, "floor-peak-heap-MB")
	b.ReportMetric(float64(manifestBytes), "manifest-bytes")
	b.ReportMetric(float64(len(csv)), "csv-bytes")
}

// importFloor is the import's floor: the file read and checked, then each
// row's code signed and its holder sealed under the code (and under its
// card UID when it has one), as the import numbers them. It returns the
// time of each of the three.
func importFloor(b *testing.B, priv ed25519.PrivateKey, csv []byte) (read, sign, seal time.Duration) {
	from := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	until := from.Add(10 * time.Hour)
	t0 := time.Now()
	im, err := issuing.ReadCSV(bytes.NewReader(csv))
	if err != nil || len(im.Rows) != benchRows {
		b.Fatalf("floor: read: %v", err)
	}
	t1 := time.Now()
	codes := make([]string, len(im.Rows))
	for i := range im.Rows {
		if codes[i], err = ticket.Sign(priv, ticket.Claims{Event: benchEventID, Number: uint64(i + 1), From: from, Until: until}); err != nil {
			b.Fatal(err)
		}
	}
	t2 := time.Now()
	sealed := make([][]byte, 0, len(im.Rows)+len(im.Rows)/10)
	for i, a := range im.Rows {
		h := ticket.Holder{Name: a.Name, Phone: a.Phone}
		s, err := ticket.Seal(codes[i], h)
		if err != nil {
			b.Fatal(err)
		}
		sealed = append(sealed, s)
		if a.CardUID != "" {
			if s, err = ticket.Seal(a.CardUID, h); err != nil {
				b.Fatal(err)
			}
			sealed = append(sealed, s)
		}
	}
	t3 := time.Now()
	runtime.KeepAlive(sealed)
	return t1.Sub(t0), t2.Sub(t1), t3.Sub(t2)
}

// benchCheckIns returns an event day of n check-ins (a multiple of 100)
// at four boxes, one every 100 ms from 08:00, as the boxes send them. In
// each hundred: 88 first admissions of tickets in a shuffled order, six
// rejections (already-used, bad-signature, unknown, expired, wrong-zone,
// revoked), a fever hold and its resolution by staff (admitted or refused
// in turn), an admission undone by staff and admitted again, and either a
// second first admission of a ticket already in (a conflict, in one
// hundred of ten) or another first admission. Tickets are numbered
// from 1 to tickets.
func benchCheckIns(n, tickets int) [][]hqstore.CheckIn {
	const boxes = 4
	rng := rand.New(rand.NewPCG(1, 2))
	perm := rng.Perm(tickets)
	nextTicket := func() string { t := perm[0] + 1; perm = perm[1:]; return fmt.Sprint(t) }
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) // 08:00 in China
	seq := make([]uint64, boxes)
	var admitted []hqstore.CheckIn
	conflicted := map[string]bool{}
	var cs []hqstore.CheckIn
	normal, fever := 36.5, 37.9
	reasons := []string{"already-used", "bad-signature", "unknown", "expired", "wrong-zone", "revoked"}
	for k := range n {
		bx := k % boxes
		seq[bx]++
		at := base.Add(time.Duration(k) * 100 * time.Millisecond)
		c := hqstore.CheckIn{Nonce: fmt.Sprintf("%016x%016x%016x", bx+1, seq[bx], uint64(k)*0x9e3779b97f4a7c15),
			Org: "acme-bank", Venue: "sh-pudong", Box: fmt.Sprintf("gate-%d", bx+1), Boot: 1, Seq: seq[bx], Event: benchEventID,
			Verdict: "admitted", Reason: "ok", At: at, TempC: &normal, Input: fmt.Sprintf("%016x", uint64(k)*31), Received: at.Add(time.Second)}
		switch r := k % 100; {
		case r < 88 || (r == 98 && k/100%10 != 0):
			c.Ticket = nextTicket()
		case r < 94:
			c.Verdict, c.Reason = "rejected", reasons[r-88]
			switch c.Reason {
			case "already-used":
				c.Ticket = admitted[rng.IntN(len(admitted))].Ticket
			case "bad-signature", "unknown":
			default:
				c.Ticket = nextTicket()
			}
		case r == 94:
			c.Ticket, c.Verdict, c.Reason, c.TempC = nextTicket(), "held", "fever", &fever
		case r == 95:
			hold := cs[len(cs)-1]
			c.Ticket, c.Gate, c.Staff, c.Note, c.TempC = hold.Ticket, hold.Box, "staff-1", "hold "+hold.Nonce+": 复测正常", nil
			c.Box, c.Seq, c.Nonce = hold.Box, 0, "" // the staff resolve at the box that held
			if k/100%2 == 0 {
				c.Reason = "staff-override"
			} else {
				c.Verdict, c.Reason, c.Note = "rejected", "fever", "hold "+hold.Nonce+": 复测仍发热"
			}
		case r == 96:
			orig := cs[len(cs)-10]
			c.Ticket, c.Verdict, c.Reason, c.Staff, c.Note = orig.Ticket, "rejected", "undo", "staff-2", "undo "+orig.Nonce+": 闸机卡住"
			c.Box, c.Seq, c.Nonce = orig.Box, 0, ""
		case r == 97:
			c.Ticket = cs[len(cs)-11].Ticket // the undone admission's holder, through again
		case r == 98:
			for c.Ticket == "" || conflicted[c.Ticket] {
				c.Ticket = admitted[rng.IntN(len(admitted))].Ticket
			}
			conflicted[c.Ticket] = true
		default:
			c.Ticket = nextTicket()
		}
		if c.Seq == 0 { // moved to another box: number it there
			seq[bx]--
			var i int
			fmt.Sscanf(c.Box, "gate-%d", &i)
			seq[i-1]++
			c.Seq = seq[i-1]
			c.Nonce = fmt.Sprintf("%016x%016x%016x", i, c.Seq, uint64(k)*0x9e3779b97f4a7c15)
		}
		if c.Gate == "" {
			c.Gate = c.Box
		}
		if c.Verdict == "admitted" && c.Reason == "ok" {
			admitted = append(admitted, c)
		}
		cs = append(cs, c)
	}
	// Batches of 200 of one box, as hqsync hands them to Ingest.
	var batches [][]hqstore.CheckIn
	per := map[string][]hqstore.CheckIn{}
	for _, c := range cs {
		per[c.Box] = append(per[c.Box], c)
		if len(per[c.Box]) == 200 {
			batches = append(batches, per[c.Box])
			per[c.Box] = nil
		}
	}
	for bx := range boxes {
		if p := per[fmt.Sprintf("gate-%d", bx+1)]; len(p) > 0 {
			batches = append(batches, p)
		}
	}
	return batches
}

// BenchmarkDashboard100k renders the dashboard's data, GET
// /api/events/{event}/summary through HQ's HTTP server on loopback, for
// an event of 100,000 attendees (imported as above) and 100,000
// check-ins (ingested in batches of 200), and in the same loop the floor:
// the store's plain scan of the event's check-ins (Attendance). The page
// itself is static (its script draws the summary), so the summary is the
// render's server side.
func BenchmarkDashboard100k(b *testing.B) {
	d := startBenchHQ(b, b.TempDir())
	defer func() {
		if err := d.stop(); err != nil {
			b.Errorf("hq: %v", err)
		}
	}()
	if code, body := d.do("POST", "/api/events/"+benchEventID+"/attendees", benchCSV(b, benchRows)); code != http.StatusOK {
		b.Fatalf("import: %d %.300s", code, body)
	}
	stored := 0
	t0 := time.Now()
	for _, batch := range benchCheckIns(benchRows, benchRows) {
		res, err := d.h.Store.Ingest(batch)
		if err != nil {
			b.Fatal(err)
		}
		stored += res.Stored
	}
	if stored != benchRows {
		b.Fatalf("stored %d check-ins of %d", stored, benchRows)
	}
	b.Logf("setup: 100,000 check-ins ingested in %v", time.Since(t0).Round(time.Millisecond))

	var render, floor, renderCPU, floorCPU time.Duration
	var peak, fpeak uint64
	var size int
	var s Summary
	n := 0
	for b.Loop() {
		b.StopTimer()
		hp := sampleHeap()
		b.StartTimer()
		t0, c0 := time.Now(), cpuTime()
		code, body := d.do("GET", "/api/events/"+benchEventID+"/summary", nil)
		dt, dc := time.Since(t0), cpuTime()-c0
		b.StopTimer()
		hp.stop()
		if code != http.StatusOK {
			b.Fatalf("summary: %d %.300s", code, body)
		}
		size = len(body)
		if err := json.Unmarshal(body, &s); err != nil {
			b.Fatal(err)
		}
		fp := sampleHeap()
		t1, c1 := time.Now(), cpuTime()
		cs, err := d.h.Store.Attendance(benchEventID)
		ft, fc := time.Since(t1), cpuTime()-c1
		fp.stop()
		if err != nil || len(cs) != benchRows {
			b.Fatalf("attendance: %d check-ins, %v", len(cs), err)
		}
		render, floor, renderCPU, floorCPU = render+dt, floor+ft, renderCPU+dc, floorCPU+fc
		peak, fpeak = max(peak, hp.alloc), max(fpeak, fp.alloc)
		n++
		b.StartTimer()
	}
	if s.CheckIns != benchRows || s.Expected != benchRows || s.Conflicts != 100 || len(s.Undos) != 1000 || s.Fever.Held != 1000 {
		b.Fatalf("summary: %d check-ins, %d expected, %d conflicts, %d undos, %d held", s.CheckIns, s.Expected, s.Conflicts, len(s.Undos), s.Fever.Held)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 / float64(n) }
	b.ReportMetric(ms(render), "summary-ms")
	b.ReportMetric(ms(floor), "floor-ms")
	b.ReportMetric(render.Seconds()/floor.Seconds(), "ratio")
	b.ReportMetric(ms(renderCPU), "summary-cpu-ms")
	b.ReportMetric(ms(floorCPU), "floor-cpu-ms")
	b.ReportMetric(renderCPU.Seconds()/floorCPU.Seconds(), "cpu-ratio")
	b.ReportMetric(float64(size), "summary-bytes")
	b.ReportMetric(float64(peak)/mb, "peak-heap-MB")
	b.ReportMetric(float64(fpeak)/mb, "floor-peak-heap-MB")
	b.ReportMetric(float64(s.Admitted), "admitted")
	b.ReportMetric(float64(len(s.VIP)), "vip-arrivals")
}
