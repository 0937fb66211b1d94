package box

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/gate"
	"venuebox/cmd/internal/hardware"
	"venuebox/cmd/internal/ticket"
	"venuebox/device"
	"venuebox/device/sim"
	"venuebox/store"
	"venuebox/sync/boxsync"
	"venuebox/sync/mqttconn"
)

// StoreFile is the store's file name in the state directory.
const StoreFile = "box.db"

// Daemon is a running box: its store, decision path, devices and HTTP API.
type Daemon struct {
	Box     *Box
	obs     *observer // health, metrics and systemd notifications
	Store   *store.Store
	Addr    net.Addr     // where the HTTP API listens
	Scanner *sim.Scanner // the simulated scanner, when the config asks for one
	Cards   *sim.Scanner // the simulated card reader, likewise
	srv     *http.Server
	ln      net.Listener
	log     *slog.Logger
	scanner OpenScanner
	cards   OpenCardReader
	closers []io.Closer   // devices opened once, closed at shutdown
	sync    *boxsync.Sync // nil without a broker
}

// Start opens the store, loads the trusted keys and the manifest, opens
// the devices and starts listening. The returned daemon runs until Run's
// context ends.
func Start(cfg *config.Box, log *slog.Logger) (*Daemon, error) {
	var pubs []ed25519.PublicKey
	for _, f := range cfg.Trust {
		pub, err := ticket.LoadPublicKey(f)
		if err != nil {
			return nil, fmt.Errorf("box: trust: %w", err)
		}
		pubs = append(pubs, pub)
	}
	st, err := openStore(filepath.Join(cfg.StateDir, StoreFile), cfg, log)
	if err != nil {
		return nil, err
	}
	d := &Daemon{Store: st, log: log}
	if err := d.start(cfg, ticket.NewKeyring(pubs...)); err != nil {
		st.Close()
		return nil, err
	}
	return d, nil
}

func (d *Daemon) start(cfg *config.Box, trust *ticket.Keyring) error {
	if changed, err := d.Store.NoteConfig(digest(cfg)); err != nil {
		return err
	} else if changed {
		d.log.Info("configuration changed since the last start; noted in the audit log")
	}
	opts := Options{Store: d.Store, Trust: trust, Zone: cfg.Box.Zone, Log: d.log, Policy: gate.Policy{
		DoubleScanWindow: cfg.Policy.DoubleScanWindow, Reentry: cfg.Policy.Reentry,
		FeverC: cfg.Policy.FeverC, ClockSkew: cfg.Policy.ClockSkew,
	}, Staff: cfg.Staff}
	if err := d.openDevices(cfg.Devices, &opts); err != nil {
		return err
	}
	if cfg.MQTT.URL != "" {
		var err error
		d.sync, err = boxsync.New(boxsync.Config{
			Org: cfg.Box.Org, Venue: cfg.Box.Venue, Box: cfg.Box.ID,
			MQTT:   mqttconn.Config{URL: cfg.MQTT.URL, CAFile: cfg.MQTT.CA, CertFile: cfg.MQTT.Cert, KeyFile: cfg.MQTT.Key},
			Verify: verifier(trust),
			Audit:  syncStore{d.Store},
		}, syncStore{d.Store}, d.log, func(raw []byte) error { return d.Box.ApplyManifest(raw) })
		if err != nil {
			return err
		}
		opts.Recorded = func(c store.CheckIn) { d.sync.Kick(toWire(c)) }
		opts.Online = d.sync.Online
		opts.LastSync = d.sync.LastSync
	}
	b, err := New(opts)
	if err != nil {
		return err
	}
	d.Box = b
	if cfg.Manifest != "" {
		// A bad manifest file must not stop the gate: it keeps the cache it
		// has and says why loudly.
		raw, err := os.ReadFile(cfg.Manifest)
		if err == nil {
			err = b.ApplyManifest(raw)
		}
		if err != nil {
			d.log.Error("manifest file not applied; the box runs on the cache it has", "file", cfg.Manifest, "err", err)
		}
	}
	d.ln, err = net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("box: listen: %w", err)
	}
	d.Addr = d.ln.Addr()
	d.srv = &http.Server{Handler: d.observe(cfg, b.Handler()), ReadHeaderTimeout: 5 * time.Second}
	return nil
}

// Run serves and reads the devices until ctx ends, then shuts down in
// reverse order and closes the store.
func (d *Daemon) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	wg.Go(func() {
		if err := d.srv.Serve(d.ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("box: http: %w", err)
		}
	})
	devCtx, stopDevices := context.WithCancel(ctx)
	if d.scanner != nil {
		wg.Go(func() { d.Box.ReadScanner(devCtx, "scanner", d.obs.timed(d.scanner)) })
	}
	if d.cards != nil {
		wg.Go(func() { d.Box.ReadCards(devCtx, "card-reader", d.cards) })
	}
	if d.sync != nil {
		wg.Go(func() {
			if err := d.sync.Run(devCtx); err != nil {
				d.log.Error("sync stopped", "err", err)
			}
		})
	}
	d.log.Info("box running", "http", d.Addr.String(), "boot", d.Store.Boot())
	d.obs.supervise(devCtx, &wg)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	stopDevices()
	shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	d.srv.Shutdown(shut) // a stream still open past the timeout is cut
	cancel()
	wg.Wait()
	for _, c := range slices.Backward(d.closers) {
		if cerr := c.Close(); cerr != nil {
			d.log.Warn("device not closed", "err", cerr)
		}
	}
	if cerr := d.Store.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// openDevices prepares the configured devices. A scanner or card reader
// that is not there yet is opened again and again by its read loop; a
// thermometer or signal that fails to open is logged and the gate runs
// without it. Only a configuration no driver can serve is an error.
func (d *Daemon) openDevices(devs config.Devices, opts *Options) error {
	var err error
	if c := devs.Scanner; c != nil {
		if c.Driver == config.ScannerSim {
			d.Scanner = sim.NewScanner("scanner")
		}
		var open hardware.Opener[device.Scanner]
		if open, err = hardware.Scanner(context.Background(), c, d.Scanner, d.log.With("dev", "scanner")); err != nil {
			return err
		}
		d.scanner = OpenScanner(open)
	}
	if c := devs.NFC; c != nil {
		if c.Driver == config.NFCSim {
			d.Cards = sim.NewScanner("card-reader")
		}
		var open hardware.Opener[device.CardReader]
		if open, err = hardware.CardReader(c, d.Cards, d.log.With("dev", "card-reader")); err != nil {
			return err
		}
		d.cards = OpenCardReader(open)
	}
	if c := devs.Thermo; c != nil {
		th, closer, err := hardware.Thermometer(c, d.log.With("dev", "thermometer"))
		if err != nil {
			d.log.Error("thermometer not available; the gate runs without temperatures", "err", err)
		} else {
			opts.Thermometer = th
			d.addCloser(closer)
		}
	}
	if c := devs.Signal; c != nil {
		sig, err := hardware.Signal(c, d.log.With("dev", "signal"))
		if err != nil {
			d.log.Error("signal outputs not available; the gate runs without lights and relay", "err", err)
		} else {
			opts.Signal = sig
			d.addCloser(haltCloser{sig})
		}
	}
	return nil
}

func (d *Daemon) addCloser(c io.Closer) {
	if c != nil {
		d.closers = append(d.closers, c)
	}
}

// haltCloser closes a device by halting it.
type haltCloser struct{ dev interface{ Halt() error } }

func (h haltCloser) Close() error { return h.dev.Halt() }

// verifier checks HQ's signature on a command with the trusted keys of
// the key id the command names.
func verifier(trust *ticket.Keyring) func(key string, msg, sig []byte) bool {
	return func(key string, msg, sig []byte) bool {
		id, err := ticket.ParseKeyID(key)
		if err != nil {
			return false
		}
		for _, pub := range trust.Keys(id) {
			if ed25519.Verify(pub, msg, sig) {
				return true
			}
		}
		return false
	}
}

// digest names a configuration: the SHA-256 of its canonical JSON form, so
// that the audit log records each change of configuration.
func digest(cfg *config.Box) string {
	b, _ := json.Marshal(cfg) // a Box of plain fields always marshals
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
