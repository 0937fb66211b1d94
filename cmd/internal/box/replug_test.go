package box

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"venuebox/cmd/internal/config"
	"venuebox/device/ptytest"
)

// TestDaemon_scannerReplugged runs the daemon with a serial scanner on a
// pseudo-terminal: a code scanned is decided; the scanner unplugged is
// reported down and the daemon keeps running; plugged back in, it is read
// again and the next code is decided.
func TestDaemon_scannerReplugged(t *testing.T) {
	dir, _, codes := demoFiles(t, 5)
	pair := ptytest.New(t)
	d, err := Start(&config.Box{
		Box: config.Identity{ID: "gate-1", Venue: "v", Org: "o"}, StateDir: filepath.Join(dir, "state"),
		Trust: []string{filepath.Join(dir, "signing.pub")}, Manifest: filepath.Join(dir, "manifest.json"),
		HTTP:    config.HTTP{Listen: "127.0.0.1:0"},
		Devices: config.Devices{Scanner: &config.Scanner{Driver: config.ScannerSerial, Port: pair.Path, Baud: 9600, Suffix: config.SuffixCR}},
		Policy:  config.Policy{DoubleScanWindow: 3 * time.Second, FeverC: 37.3, ClockSkew: 5 * time.Minute},
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	verdicts := d.Box.stream.subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	device := func() string { s, _ := d.Box.Status(); return s.Devices["scanner"] }
	scan := func(code, want string) {
		t.Helper()
		pair.Write([]byte(code + "\r"))
		select {
		case data := <-verdicts:
			var v Verdict
			json.Unmarshal(data, &v)
			if v.Verdict+" "+v.Reason != want {
				t.Fatalf("verdict %s %s, want %s", v.Verdict, v.Reason, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no verdict for a scan (scanner %s)", device())
		}
	}
	eventually(t, "scanner up", 10*time.Second, func() bool { return device() == "up" })
	scan(codes[0], "admitted ok")

	pair.Unplug()
	eventually(t, "scanner reported down", 10*time.Second, func() bool { return device() == "down" })
	pair.Plug()
	back := time.Now()
	eventually(t, "scanner reopened", 10*time.Second, func() bool { return device() == "up" })
	t.Logf("scanner read again %v after it was plugged back in", time.Since(back).Round(10*time.Millisecond))
	scan(codes[1], "admitted ok")
	scan("\x01garbage", "rejected unreadable")
}
