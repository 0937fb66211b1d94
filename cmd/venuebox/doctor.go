package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/hardware"
	"venuebox/device/gpiosignal"
	"venuebox/device/mlx90614"
	"venuebox/device/pn532"
)

func init() {
	commands["doctor"] = command{summary: "probe each configured device and print one line each", run: runDoctor}
}

// probeTimeout bounds each device's probe.
const probeTimeout = 3 * time.Second

func runDoctor(args []string, stdout, stderr io.Writer) int {
	f := newFlags("doctor", "-config FILE",
		"Opens each device the box configuration names and prints one line each: found or not\n"+
			"and why, the PN532's firmware version, a live temperature, and a pulse of each signal\n"+
			"pin (watch the LEDs, listen for the buzzer and the relay). Exits 1 if a device fails.\n"+
			"Stop venueboxd first: a port can have one reader only.")
	path := f.String("config", "", "box configuration `FILE`")
	if code, ok := f.parse(args, stdout, stderr); !ok {
		return code
	}
	if *path == "" || f.NArg() > 0 {
		return f.fail(stderr, exitUsage, errors.New("-config FILE is required, and nothing else"))
	}
	cfg, err := config.LoadBox(*path)
	if err != nil {
		return f.fail(stderr, exitUsage, err)
	}
	log := slog.New(slog.DiscardHandler)
	ok := true
	line := func(name, format string, args ...any) {
		fmt.Fprintf(stdout, "%-12s %s\n", name, fmt.Sprintf(format, args...))
	}
	failed := func(name string, err error) {
		ok = false
		line(name, "FAIL: %v", err)
	}
	devs := cfg.Devices
	if devs.Scanner == nil && devs.NFC == nil && devs.Thermo == nil && devs.Signal == nil {
		line("devices", "none configured")
	}
	if c := devs.Scanner; c != nil {
		if err := probeScanner(c, log); err != nil {
			failed("scanner", err)
		} else {
			line("scanner", "ok: %s found", describe(c.Driver, c.Port, c.Device))
		}
	}
	if c := devs.NFC; c != nil {
		if msg, err := probeCards(c, log); err != nil {
			failed("card-reader", err)
		} else {
			line("card-reader", "ok: %s found%s", describe(c.Driver, c.Port, c.Device), msg)
		}
	}
	if c := devs.Thermo; c != nil {
		if msg, err := probeThermo(c, log); err != nil {
			failed("thermometer", err)
		} else {
			line("thermometer", "ok: %s", msg)
		}
	}
	if c := devs.Signal; c != nil {
		if msg, err := probeSignal(c, log); err != nil {
			failed("signal", err)
		} else {
			line("signal", "ok: pulsed %s", msg)
		}
	}
	if !ok {
		return exitFail
	}
	return exitOK
}

func describe(driver, port, dev string) string {
	switch {
	case port != "":
		return driver + " on " + port
	case dev != "":
		return driver + " on " + dev
	}
	return driver
}

func probeScanner(c *config.Scanner, log *slog.Logger) error {
	open, err := hardware.Scanner(context.Background(), c, nil, log)
	if err != nil {
		return err
	}
	if c.Driver == config.ScannerSim {
		return nil
	}
	_, closer, err := open()
	if err != nil {
		return err
	}
	return closer.Close()
}

func probeCards(c *config.NFC, log *slog.Logger) (string, error) {
	open, err := hardware.CardReader(c, nil, log)
	if err != nil || c.Driver == config.NFCSim {
		return "", err
	}
	r, closer, err := open()
	if err != nil {
		return "", err
	}
	defer closer.Close()
	if p, ok := r.(*pn532.Dev); ok {
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		fw, err := p.FirmwareVersion(ctx)
		if err != nil {
			return "", err
		}
		return ", firmware " + fw.String(), nil
	}
	return "", nil
}

func probeThermo(c *config.Thermo, log *slog.Logger) (string, error) {
	th, closer, err := hardware.Thermometer(c, log)
	if err != nil {
		return "", err
	}
	if closer != nil {
		defer closer.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	t, err := th.Temperature(ctx)
	if err != nil {
		return "", err
	}
	msg := fmt.Sprintf("%s reads %.1f °C", th, t)
	if m, ok := th.(*mlx90614.Dev); ok {
		if amb, err := m.Ambient(ctx); err == nil {
			msg += fmt.Sprintf(" (ambient %.1f °C)", amb)
		}
	}
	return msg, nil
}

func probeSignal(c *config.Signal, log *slog.Logger) (string, error) {
	sig, err := hardware.Signal(c, log)
	if err != nil {
		return "", err
	}
	defer sig.Halt()
	var done []string
	for _, o := range []struct {
		out gpiosignal.Output
		pin string
	}{{gpiosignal.Green, c.Green}, {gpiosignal.Red, c.Red}, {gpiosignal.Buzzer, c.Buzzer}, {gpiosignal.Relay, c.Relay}} {
		if o.pin == "" {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		err := sig.Pulse(ctx, o.out, 300*time.Millisecond)
		cancel()
		if err != nil {
			return "", fmt.Errorf("%s (%s): %w", o.out, o.pin, err)
		}
		done = append(done, fmt.Sprintf("%s %s", o.out, o.pin))
	}
	return fmt.Sprint(done), nil
}
