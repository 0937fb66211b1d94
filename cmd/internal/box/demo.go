package box

import (
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/manifest"
	"venuebox/cmd/internal/ticket"
	"venuebox/device/sim"
)

// DemoEvent is the id of the demo's event.
const DemoEvent = "demo-briefing"

// DemoStaffPIN is the demo's staff PIN, for trying staff mode.
const DemoStaffPIN = "1234"

// Demo runs a box with simulated devices, a demo event of signed tickets
// and a simulated stream of arrivals, its state in a temporary folder and
// no broker: it queues its check-ins and shows HQ offline. It serves the
// API on listen until ctx ends.
func Demo(ctx context.Context, listen string, log *slog.Logger) error {
	dir, err := os.MkdirTemp("", "venuebox-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if _, err := ticket.GenerateKey(dir); err != nil {
		return err
	}
	priv, err := ticket.LoadPrivateKey(filepath.Join(dir, "signing.key"))
	if err != nil {
		return err
	}
	codes, raw, err := DemoManifest(priv, 200)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), raw, 0o600); err != nil {
		return err
	}
	cfg := &config.Box{
		Box:      config.Identity{ID: "gate-1", Venue: "demo-venue", Org: "demo-bank"},
		StateDir: filepath.Join(dir, "state"), Trust: []string{filepath.Join(dir, "signing.pub")},
		Manifest: filepath.Join(dir, "manifest.json"), HTTP: config.HTTP{Listen: listen},
		Devices: config.Devices{Scanner: &config.Scanner{Driver: config.ScannerSim}, Thermo: &config.Thermo{Driver: config.ThermoSim}},
		Policy:  config.Policy{DoubleScanWindow: 3 * time.Second, FeverC: 37.3, ClockSkew: 5 * time.Minute},
		Staff:   config.Staff{PINs: map[string]string{"demo-staff": config.HashPIN(DemoStaffPIN)}},
	}
	d, err := Start(cfg, log)
	if err != nil {
		return err
	}
	log.Info("demo: kiosk screen ready", "url", "http://"+d.Addr.String()+"/", "staff_pin", DemoStaffPIN, "state", dir)
	go arrivals(ctx, d, codes, log)
	return d.Run(ctx)
}

// arrivals feeds the simulated scanner a plausible queue: mostly first
// entries, now and then a double scan, a ticket used again, a forged code
// or a code from another system.
func arrivals(ctx context.Context, d *Daemon, codes []string, log *slog.Logger) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	th, _ := d.Box.opts.Thermometer.(*sim.Thermometer)
	next := 0
	for {
		if !sleep(ctx, time.Duration(1500+rng.IntN(2000))*time.Millisecond) {
			return
		}
		if th != nil { // now and then someone with a fever, for staff to check
			c := 36.2 + float64(rng.IntN(8))/10
			if rng.IntN(25) == 0 {
				c = 37.6 + float64(rng.IntN(6))/10
			}
			th.Set(c)
		}
		var code string
		switch r := rng.IntN(20); {
		case r == 0:
			code = codes[0][:len(codes[0])-1] + "0" // altered
		case r == 1:
			code = "CRM-000123" // a code this event never issued
		case r == 2 && next > 0:
			code = codes[rng.IntN(next)] // used again
		case next < len(codes):
			code = codes[next]
			next++
		default:
			code = codes[rng.IntN(len(codes))]
		}
		if err := d.Scanner.Feed(ctx, code); err != nil {
			return
		}
		if rng.IntN(10) == 0 { // the same person scans twice
			d.Scanner.Feed(ctx, code)
		}
	}
}

// DemoManifest issues n signed tickets for the demo event and returns
// their codes and the signed snapshot manifest.
func DemoManifest(priv ed25519.PrivateKey, n int) ([]string, []byte, error) {
	cardKey := make([]byte, manifest.CardKeySize)
	crand.Read(cardKey) // crypto/rand.Read never fails
	now := time.Now().UTC()
	m := &manifest.Manifest{
		Format: manifest.Format, Kind: manifest.KindSnapshot, Version: 1, IssuedAt: now, CardKey: cardKey,
		Event: manifest.Event{ID: DemoEvent, Name: "Wealth Management Briefing", Venue: "demo-venue",
			Classes: []manifest.Class{{Name: "standard"}, {Name: "vip", Benefit: "200 points"}}},
	}
	family, given := []rune("王李张刘陈杨黄赵吴周"), []string{"伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军"}
	codes := make([]string, 0, n)
	for i := 1; i <= n; i++ {
		code, err := ticket.Sign(priv, ticket.Claims{Event: DemoEvent, Number: uint64(i)})
		if err != nil {
			return nil, nil, err
		}
		h := ticket.Holder{Name: string(family[i%len(family)]) + given[i%len(given)], Phone: fmt.Sprintf("138%08d", i*7919%100000000)}
		sealed, err := ticket.Seal(code, h)
		if err != nil {
			return nil, nil, err
		}
		class, level := "standard", ""
		if i%10 == 0 {
			class, level = "vip", "gold"
		}
		m.Tickets = append(m.Tickets, manifest.Ticket{ID: fmt.Sprint(i), CodeHash: ticket.CodeHash(code), Class: class,
			MemberLevel: level, NameMasked: ticket.MaskName(h.Name), PhoneMasked: ticket.MaskPhone(h.Phone), Holder: sealed})
		codes = append(codes, code)
	}
	raw, err := manifest.Sign(priv, m)
	if err != nil {
		return nil, nil, err
	}
	return codes, raw, nil
}
