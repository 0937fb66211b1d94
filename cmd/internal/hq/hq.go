// Package hq is the HQ application: it receives every box's check-ins
// exactly once (store/hqstore through sync/hqsync), keeps the newest
// signed manifest of each event and pushes it to the venue's boxes, sends
// revocations down the fast path, and serves attendance, conflicts and the
// fleet over HTTP.
package hq

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/ticket"
	"venuebox/sync/hqsync"
	"venuebox/sync/mqttconn"
)

// HQ is a running HQ.
type HQ struct {
	Store Store // bbolt (one HQ) or PostgreSQL (replicas)
	Addr  net.Addr
	lib   *library
	sync  *hqsync.HQ // nil without a broker
	token string
	log   *slog.Logger
	srv   *http.Server
	ln    net.Listener
	obs   *observer  // health, metrics and systemd notifications
	pub   *publisher // whether this HQ pushes manifests: always, or while it leads the replicas
	// office is the event desk: events, attendees, issuing, keys and
	// sign-ins (events.go).
	office *office
	enrol  *enrolments // boxes enrolling from a one-time QR (enrol.go); nil: not configured
}

// Start opens HQ's store and manifests, prepares the broker connection and
// listens; Run serves.
func Start(cfg *config.HQ, log *slog.Logger) (*HQ, error) {
	token, err := os.ReadFile(cfg.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("hq: token: %w", err)
	}
	h := &HQ{token: strings.TrimSpace(string(token)), log: log}
	h.obs = newObserver(h)
	if len(h.token) < 16 {
		return nil, fmt.Errorf("hq: token in %s is shorter than 16 characters", cfg.TokenFile)
	}
	priv, err := ticket.LoadPrivateKey(cfg.SigningKey)
	if err != nil {
		return nil, fmt.Errorf("hq: %w", err)
	}
	if priv, h.office, err = currentKey(cfg, priv); err != nil {
		return nil, err
	}
	if h.enrol, err = newEnrolments(cfg.Enrol); err != nil {
		return nil, err
	}
	if h.lib, err = openLibrary(filepath.Join(cfg.StateDir, "manifests"), priv); err != nil {
		return nil, err
	}
	if h.Store, err = openStore(cfg, log); err != nil {
		return nil, err
	}
	h.office.st, _ = h.Store.(officeStore)
	h.pub = newPublisher(h, log)
	if cfg.MQTT.URL != "" {
		host, _ := os.Hostname()
		h.sync, err = hqsync.New(hqsync.Config{
			MQTT: mqttconn.Config{URL: cfg.MQTT.URL, ClientID: fmt.Sprintf("hq-%s-%d", host, os.Getpid()),
				CAFile: cfg.MQTT.CA, CertFile: cfg.MQTT.Cert, KeyFile: cfg.MQTT.Key},
			Group: "venuebox-hq", Manifests: h.lib, Audit: h.Store,
			Sign:    func(msg []byte) []byte { return ed25519.Sign(priv, msg) },
			SignKey: ticket.KeyIDOf(priv.Public().(ed25519.PublicKey)).String(),
		}, h.obs.store(h.Store), log)
		if err != nil {
			h.Store.Close()
			return nil, err
		}
	}
	if h.ln, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
		h.Store.Close()
		return nil, fmt.Errorf("hq: listen: %w", err)
	}
	h.Addr = h.ln.Addr()
	h.srv = &http.Server{Handler: h.obs.handler(h.Handler()), ReadHeaderTimeout: 5 * time.Second}
	return h, nil
}

// Run serves until ctx ends, then closes the store.
func (h *HQ) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	wg.Go(func() {
		if err := h.srv.Serve(h.ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	})
	if h.sync != nil {
		wg.Go(func() {
			if err := h.sync.Run(ctx); err != nil {
				h.log.Error("sync stopped", "err", err)
			}
		})
	}
	wg.Go(func() { h.pub.run(ctx) })
	h.log.Info("hq running", "http", h.Addr.String())
	defer h.obs.supervise(ctx)()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	h.srv.Shutdown(shut) // requests still open past the timeout are cut
	cancel()
	wg.Wait()
	if cerr := h.Store.Close(); err == nil {
		err = cerr
	}
	return err
}

// venues returns the (org, venue) pairs of the fleet that serve venue, or
// every pair when venue is "".
func (h *HQ) venues(venue string) ([][2]string, error) {
	boxes, err := h.Store.Boxes()
	if err != nil {
		return nil, err
	}
	seen := map[[2]string]bool{}
	var out [][2]string
	for _, b := range boxes {
		k := [2]string{b.Org, b.Venue}
		if b.Org != "" && (venue == "" || b.Venue == venue) && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out, nil
}
