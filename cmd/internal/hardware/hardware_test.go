package hardware

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"venuebox/cmd/internal/config"
	"venuebox/device/ptytest"
)

// The openers drive real drivers over a real serial line: the test plays
// the scanner and the RDM6300 on the other end of a pseudo-terminal.

func TestScanner_serial(t *testing.T) {
	pair := ptytest.New(t)
	open, err := Scanner(context.Background(), &config.Scanner{Driver: config.ScannerSerial, Port: pair.Path, Baud: 9600, Suffix: "crlf"}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s, closer, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	pair.Write([]byte("]Q1VB1EXAMPLE\r\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, err := s.Scan(ctx)
	if err != nil || code != "VB1EXAMPLE" {
		t.Fatalf("scan %q %v (the AIM prefix ]Q1 is stripped)", code, err)
	}
}

func TestCardReader_rdm6300(t *testing.T) {
	pair := ptytest.New(t)
	open, err := CardReader(&config.NFC{Driver: config.NFCRDM6300, Port: pair.Path}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	r, closer, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	data := []byte{0x62, 0xE3, 0x08, 0x6C, 0xED}
	sum := byte(0)
	for _, b := range data {
		sum ^= b
	}
	pair.Write(fmt.Appendf(nil, "\x02%X%02X\x03", data, sum))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	uid, err := r.ReadCard(ctx)
	if err != nil || uid != "62E3086CED" {
		t.Fatalf("card %q %v", uid, err)
	}
}

func TestOpeners_refuseUnknownDrivers(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	if _, err := Scanner(context.Background(), &config.Scanner{Driver: "laser"}, nil, log); err == nil {
		t.Error("unknown scanner driver accepted")
	}
	if _, err := CardReader(&config.NFC{Driver: "magstripe"}, nil, log); err == nil {
		t.Error("unknown card reader driver accepted")
	}
	if _, _, err := Thermometer(&config.Thermo{Driver: "mercury"}, log); err == nil {
		t.Error("unknown thermometer driver accepted")
	}
	if _, err := Scanner(context.Background(), &config.Scanner{Driver: config.ScannerSerial, Suffix: "semicolon"}, nil, log); err == nil {
		t.Error("unknown suffix accepted")
	}
}
