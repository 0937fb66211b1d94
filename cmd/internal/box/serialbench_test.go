package box

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/hardware"
	"venuebox/cmd/internal/ticket"
	"venuebox/device"
	"venuebox/device/ptytest"
	"venuebox/store"
)

// BenchmarkSerialToVerdict measures a code's bytes written by the scanner
// (the test, on a pseudo-terminal) to its verdict on the kiosk stream:
// serial port, line framing, decision, fsync'd record and stream. Beside it,
// in the same loop, the same decision presented directly (Present), so the
// ratio shows what the serial path adds. A pseudo-terminal does not pace
// bytes: a real scanner adds 10 ms at 115200 baud and 125 ms at 9600 for a
// 120-character code.
func BenchmarkSerialToVerdict(b *testing.B) {
	dir := b.TempDir()
	priv := newKey(b)
	codes, raw, err := DemoManifest(priv, 2*b.N)
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "box.db"), testID)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	bx, err := New(Options{Store: st, Trust: ticket.NewKeyring(priv.Public().(ed25519.PublicKey)), Policy: defaultPolicy()})
	if err != nil {
		b.Fatal(err)
	}
	if err := bx.ApplyManifest(raw); err != nil {
		b.Fatal(err)
	}
	pair := ptytest.New(b)
	open, err := hardware.Scanner(context.Background(), &config.Scanner{Driver: config.ScannerSerial, Port: pair.Path, Baud: 115200, Suffix: config.SuffixCR}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	verdicts := bx.stream.subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go bx.ReadScanner(ctx, "scanner", func() (device.Scanner, io.Closer, error) { return open() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if s, _ := bx.Status(); s.Devices["scanner"] == "up" {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("scanner never up")
		}
	}
	serial, direct := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		pair.Write([]byte(codes[2*i] + "\r"))
		select {
		case <-verdicts:
		case <-time.After(10 * time.Second):
			b.Fatal("no verdict")
		}
		t1 := time.Now()
		if _, err := bx.Present(ctx, Code, codes[2*i+1]); err != nil {
			b.Fatal(err)
		}
		<-verdicts
		serial, direct = append(serial, t1.Sub(t0)), append(direct, time.Since(t1))
	}
	b.StopTimer()
	reportLatency(b, "serial", serial)
	reportLatency(b, "direct", direct)
	b.ReportMetric(float64(pct(serial, 50))/float64(pct(direct, 50)), "p50-ratio")
}
