package box

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkScanToStream measures what the kiosk waits for: from POST
// /api/scan to the verdict event arriving on /api/stream, through the
// whole decision path (signature check, one fsync'd bbolt transaction) and
// the HTTP server, on loopback. It reports the median and the 99th
// percentile; ns/op is the mean.
//
//	go test -run '^$' -bench ScanToStream -benchtime 2000x ./cmd/internal/box/
func BenchmarkScanToStream(b *testing.B) {
	p := defaultPolicy()
	p.DoubleScanWindow = time.Nanosecond // a code seen again is decided again
	f := &fixture{priv: newKey(b), path: filepath.Join(b.TempDir(), "box.db")}
	codes, raw, err := DemoManifest(f.priv, 2000)
	if err != nil {
		b.Fatal(err)
	}
	f.open(b, p)
	if err := f.box.ApplyManifest(raw); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(f.box.Handler())
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/api/stream")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	type event struct {
		at   time.Time
		data []byte
	}
	events := make(chan event, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- event{time.Now(), []byte(data)}
			}
		}
		close(events)
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		f.box.stream.mu.Lock()
		n := len(f.box.stream.subs)
		f.box.stream.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the stream never subscribed")
		}
	}

	client := srv.Client()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		body, _ := json.Marshal(map[string]string{"code": codes[i%len(codes)]})
		start := time.Now()
		r, err := client.Post(srv.URL+"/api/scan", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		var v Verdict
		err = json.NewDecoder(r.Body).Decode(&v)
		r.Body.Close()
		if err != nil || r.StatusCode != http.StatusOK {
			b.Fatalf("scan: %d %v", r.StatusCode, err)
		}
		ev, ok := <-events
		if !ok {
			b.Fatal("stream closed")
		}
		var got Verdict
		if err := json.Unmarshal(ev.data, &got); err != nil || got.Nonce != v.Nonce {
			b.Fatalf("event %s for scan %s (%v)", ev.data, v.Nonce, err)
		}
		lat = append(lat, ev.at.Sub(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[min(len(lat)-1, len(lat)*99/100)]), "p99-ms")
}
