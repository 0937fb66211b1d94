package hq

import (
	"context"
	"net/http"
	"sync"
	"time"

	"venuebox/cmd/internal/health"
	"venuebox/cmd/internal/sdnotify"
	"venuebox/cmd/internal/version"
	"venuebox/store/hqstore"
	"venuebox/sync/hqsync"
)

// Debounces of HQ's health conditions (variables for the tests).
var (
	brokerUnreachableAfter = 2 * time.Minute
	hqStoreUnhealthyAfter  = 10 * time.Second
	hqHealthEvery          = 5 * time.Second
)

// observer is HQ's health, metrics and systemd notifications.
type observer struct {
	h        *HQ
	reg      health.Registry
	mon      *health.Monitor
	probe    func(context.Context) error
	ingested *health.CounterVec
	failed   *health.CounterVec
	notify   sdnotify.Notifier
}

func newObserver(h *HQ) *observer {
	o := &observer{h: h, notify: sdnotify.FromEnv()}
	o.probe = health.Probe(func(ctx context.Context) error { return h.Store.Probe(ctx) })
	o.mon = health.NewMonitor(nil,
		health.Condition{Name: "broker-unreachable", After: brokerUnreachableAfter, Holds: func(context.Context) (bool, string) {
			if h.sync == nil {
				return false, ""
			}
			return !h.sync.Connected(), "not connected to the broker"
		}},
		health.Condition{Name: "store-unhealthy", After: hqStoreUnhealthyAfter, Holds: func(ctx context.Context) (bool, string) {
			if err := o.probe(ctx); err != nil {
				return true, err.Error()
			}
			return false, ""
		}},
	)
	r := &o.reg
	r.Gauge("venuebox_build_info", "The running build's version.", []string{"version"}, func() []health.Sample {
		return []health.Sample{{Labels: []string{version.Version}, Value: 1}}
	})
	o.ingested = r.Counter("venuebox_hq_checkins_ingested_total", "Check-ins received from boxes since HQ started: stored (new) or duplicate (a redelivery).", "result")
	o.failed = r.Counter("venuebox_hq_ingest_errors_total", "Batches of check-ins the store refused.")
	r.Gauge("venuebox_hq_boxes", "Boxes of the fleet, by state.", []string{"state"}, func() []health.Sample {
		boxes, err := h.Store.Boxes()
		if err != nil {
			return nil
		}
		var on, off float64
		for _, b := range boxes {
			if b.Online {
				on++
			} else {
				off++
			}
		}
		return []health.Sample{{Labels: []string{"online"}, Value: on}, {Labels: []string{"offline"}, Value: off}}
	})
	r.GaugeFunc("venuebox_hq_boxes_queued_checkins", "Check-ins the boxes last said they hold for HQ, summed over the fleet.", func() float64 {
		boxes, err := h.Store.Boxes()
		if err != nil {
			return -1
		}
		n := 0
		for _, b := range boxes {
			n += b.Queued
		}
		return float64(n)
	})
	r.GaugeFunc("venuebox_hq_broker_connected", "1 while HQ is connected to the broker.", func() float64 {
		if h.sync != nil && h.sync.Connected() {
			return 1
		}
		return 0
	})
	r.Gauge("venuebox_health_failing", "1 while a health condition fails (after its debounce).", []string{"condition"}, func() []health.Sample {
		var out []health.Sample
		for _, c := range o.mon.Last().Conditions {
			v := 0.0
			if c.Failing {
				v = 1
			}
			out = append(out, health.Sample{Labels: []string{c.Name}, Value: v})
		}
		return out
	})
	return o
}

// store wraps HQ's store so that ingest is counted.
func (o *observer) store(st hqsync.Store) hqsync.Store { return countingStore{Store: st, o: o} }

type countingStore struct {
	hqsync.Store
	o *observer
}

func (s countingStore) Ingest(cs []hqstore.CheckIn) (hqstore.Result, error) {
	r, err := s.Store.Ingest(cs)
	if err != nil {
		s.o.failed.Inc()
		return r, err
	}
	s.o.ingested.Add(float64(r.Stored), "stored")
	s.o.ingested.Add(float64(r.Duplicates), "duplicate")
	return r, nil
}

// handler serves /healthz and /metrics beside HQ's API.
func (o *observer) handler(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", o.mon)
	mux.Handle("GET /metrics", &o.reg)
	mux.Handle("/", api)
	return mux
}

// supervise tells systemd HQ is ready, samples its health and pings the
// watchdog while its store probe passes; the returned function stops all
// that and waits for it.
func (o *observer) supervise(ctx context.Context) (stop func()) {
	log := o.h.log
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if err := o.notify.Notify(sdnotify.Ready); err != nil {
		log.Warn("systemd not told HQ is ready", "err", err)
	}
	wg.Go(func() { o.mon.Run(ctx, hqHealthEvery) })
	timeout, err := sdnotify.WatchdogInterval()
	if err != nil {
		log.Warn("watchdog not armed", "err", err)
	}
	if timeout > 0 && o.notify.Enabled() {
		log.Info("watchdog armed", "timeout", timeout)
		wg.Go(func() { sdnotify.RunWatchdog(ctx, timeout, o.probe, o.notify.Notify, log) })
	}
	return func() {
		if err := o.notify.Notify(sdnotify.Stopping); err != nil {
			log.Debug("systemd not told HQ stops", "err", err)
		}
		cancel()
		wg.Wait()
	}
}
