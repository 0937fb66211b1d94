package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"venuebox/cmd/internal/ticket"
	"venuebox/store/hqpg/pgtest"
	"venuebox/sync/mqtttest"
)

// benchHQ is an HQ process started by a benchmark.
type benchHQ struct {
	cmd  *exec.Cmd
	log  *logBuffer
	done chan struct{}
}

func (h *benchHQ) stop() {
	h.cmd.Process.Kill() // it may have exited already; done tells
	<-h.done
}

// startBenchHQ writes an HQ configuration in dir (store: the bbolt file
// in its state folder when dsn is empty, else the PostgreSQL database)
// and starts hqd on it.
func startBenchHQ(tb testing.TB, hqd, dir, name, brokerURL, dsn string) *benchHQ {
	tb.Helper()
	port := mqtttest.FreePort(tb)
	store := ""
	if dsn != "" {
		store = fmt.Sprintf("store: {driver: postgres, dsn: %q}\n", dsn)
	}
	cfg := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("state_dir: state-%s\nhttp: {listen: 127.0.0.1:%d}\nmqtt: {url: %s}\n"+
		"signing_key: signing.key\ntoken_file: token\n%s", name, port, brokerURL, store)), 0o600); err != nil {
		tb.Fatal(err)
	}
	h := &benchHQ{cmd: exec.Command(hqd, "-config", cfg), log: new(logBuffer), done: make(chan struct{})}
	h.cmd.Stdout, h.cmd.Stderr = h.log, h.log
	if err := h.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { h.cmd.Wait(); close(h.done) }()
	tb.Cleanup(h.stop)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/boxes", port)); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s did not start:\n%s", name, tail(h.log.String()))
		}
	}
	// Let the shared subscriptions settle before the fleet connects.
	time.Sleep(300 * time.Millisecond)
	return h
}

// BenchmarkReplicas measures HQ on this machine, all in one run, with
// Mosquitto, PostgreSQL, the HQ processes and the fleet simulator sharing
// its cores:
//
//   - ingest: 200 virtual boxes each holding 150 check-ins connect at once
//     and drain them (batches of up to 150); the rate is check-ins
//     acknowledged per second from HQ's first ack to its last, with 1 HQ
//     on bbolt, 1 replica on PostgreSQL and 3 replicas on PostgreSQL, and
//     the ratio 3 replicas / 1 replica;
//   - sustained: the same fleet scanning live (each decision its own
//     batch, as boxes send them) at a ramp of rates from 1,000 to 8,000 a second, 6 s each; the highest
//     rate made and acknowledged within 5% with the ack delay p99 under
//     1 s, for the same three layouts.
//
// Run it with: go test -run '^$' -bench Replicas -benchtime 1x ./cmd/venueboxd/
func BenchmarkReplicas(b *testing.B) {
	if mqtttest.Binary() == "" || pgtest.BinDir() == "" {
		b.Skip("needs mosquitto and the PostgreSQL server binaries (scripts/test installs them)")
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "bin")
	for out, pkg := range map[string]string{"venuebox-hq": "venuebox/cmd/venuebox-hq", "venuebox": "venuebox/cmd/venuebox"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, out), pkg).CombinedOutput(); err != nil {
			b.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	hqd, tool := filepath.Join(bin, "venuebox-hq"), filepath.Join(bin, "venuebox")
	if _, err := ticket.GenerateKey(dir); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("bench-token-0123456789abcdef\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	pg := pgtest.Start(b, nil)
	layouts := []struct {
		name     string
		replicas int
		pg       bool
	}{{"bbolt-1", 1, false}, {"pg-1", 1, true}, {"pg-3", 3, true}}
	rates := "1000,2000,3000,4000,5000,6000,8000"
	ingest := map[string]float64{}
	var lines []string
	for _, l := range layouts {
		for _, mode := range []string{"ingest", "sustained"} {
			broker := mqtttest.Start(b, nil)
			dsn := ""
			if l.pg {
				dsn = pg.NewDatabase(b)
			}
			var hqs []*benchHQ
			for i := range l.replicas {
				hqs = append(hqs, startBenchHQ(b, hqd, dir, fmt.Sprintf("%s-%s-%d", l.name, mode, i+1), broker.URL, dsn))
			}
			args := []string{"-broker", broker.URL, "-boxes", "200", "-prefix", mode, "-drain", "90s"}
			if mode == "ingest" {
				args = append(args, "-backlog", "150", "-duration", "0")
			} else {
				args = append(args, "-rates", rates, "-duration", "6s")
			}
			r := startLoadgen(b, tool, args...)()
			if !r.Drained {
				b.Errorf("%s %s: %d check-ins never acknowledged", l.name, mode, r.Queued)
			}
			if mode == "ingest" {
				ingest[l.name] = r.IngestRate
				b.ReportMetric(r.IngestRate, l.name+"-ingest-checkins/s")
				lines = append(lines, fmt.Sprintf("%s: ingest %.0f check-ins/s (%d in %.2f s)", l.name, r.IngestRate, r.Acked, r.DrainSeconds))
			} else {
				b.ReportMetric(r.SustainedRate, l.name+"-sustained-checkins/s")
				var steps []string
				for _, s := range r.Steps {
					steps = append(steps, fmt.Sprintf("%.0f→%.0f/%.0f p99 %.0f ms", s.Target, s.Achieved, s.AckRate, s.P99))
				}
				lines = append(lines, fmt.Sprintf("%s: sustained %.0f check-ins/s [%s]", l.name, r.SustainedRate, strings.Join(steps, "; ")))
			}
			for _, h := range hqs {
				h.stop()
				if loc := badLog.FindStringIndex(h.log.String()); loc != nil {
					b.Errorf("%s: %s", l.name, h.log.String()[loc[0]:])
				}
			}
			broker.Stop()
		}
	}
	if ingest["pg-1"] > 0 {
		b.ReportMetric(ingest["pg-3"]/ingest["pg-1"], "ratio-3/1")
		lines = append(lines, fmt.Sprintf("ingest with 3 replicas / 1 replica (PostgreSQL): %.2f", ingest["pg-3"]/ingest["pg-1"]))
	}
	for _, s := range lines {
		b.Log(s)
	}
}
