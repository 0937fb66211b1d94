package hq

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/ticket"
	"venuebox/store/hqstore"
)

func startQuietHQ(t *testing.T) *HQ {
	t.Helper()
	dir := t.TempDir()
	if _, err := ticket.GenerateKey(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := Start(&config.HQ{StateDir: filepath.Join(dir, "hq"), HTTP: config.HTTP{Listen: "127.0.0.1:0"},
		SigningKey: filepath.Join(dir, "signing.key"), TokenFile: filepath.Join(dir, "token"),
		Store: config.Store{Driver: config.StoreBbolt}}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(t *testing.T, h *HQ, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + h.Addr.String() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHQ_healthzMetricsAndIngestCounts(t *testing.T) {
	old := hqStoreUnhealthyAfter
	hqStoreUnhealthyAfter = 0
	t.Cleanup(func() { hqStoreUnhealthyAfter = old })
	h := startQuietHQ(t)
	run(t, "hq", h)
	if code, body := get(t, h, "/healthz"); code != 200 || !strings.Contains(body, `"name":"store-unhealthy"`) {
		t.Fatalf("/healthz %d %s", code, body)
	}
	st := h.obs.store(h.Store)
	cs := []hqstore.CheckIn{
		{Nonce: "n1", Box: "gate-1", Boot: 1, Seq: 1, Event: "e", Ticket: "1", Verdict: "admitted", Reason: "ok", At: time.Now()},
		{Nonce: "n2", Box: "gate-1", Boot: 1, Seq: 2, Event: "e", Ticket: "2", Verdict: "admitted", Reason: "ok", At: time.Now()},
	}
	for range 2 { // the second time: a redelivery
		if _, err := st.Ingest(cs); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Store.UpdateBox("gate-1", func(b *hqstore.Box) { b.Online, b.Queued = true, 3 }); err != nil {
		t.Fatal(err)
	}
	_, metrics := get(t, h, "/metrics")
	for _, want := range []string{
		`venuebox_hq_checkins_ingested_total{result="stored"} 2`,
		`venuebox_hq_checkins_ingested_total{result="duplicate"} 2`,
		`venuebox_hq_boxes{state="online"} 1`,
		"venuebox_hq_boxes_queued_checkins 3\n",
		`venuebox_health_failing{condition="store-unhealthy"} 0`,
		`venuebox_build_info{version="devel"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, metrics)
		}
	}

	release, done := make(chan struct{}), make(chan struct{})
	entered := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release); <-done }) }
	t.Cleanup(free) // before run's cleanup, which closes the store
	go func() {
		defer close(done)
		h.Store.UpdateBox("gate-2", func(*hqstore.Box) { close(entered); <-release })
	}()
	<-entered
	eventually(t, "store-unhealthy", 10*time.Second, func() bool {
		code, body := get(t, h, "/healthz")
		return code == 503 && strings.Contains(body, `"failing":["store-unhealthy"]`)
	})
	free()
	eventually(t, "healthy again", 10*time.Second, func() bool { code, _ := get(t, h, "/healthz"); return code == 200 })
}

func TestHQ_readyAndWatchdog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", "")
	h := startQuietHQ(t)
	run(t, "hq", h)
	got := map[string]int{}
	buf := make([]byte, 64)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for got["WATCHDOG=1"] < 3 {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		if len(got) == 0 && string(buf[:n]) != "READY=1" {
			t.Fatalf("first message %q, want READY=1", buf[:n])
		}
		got[string(buf[:n])]++
	}
}
