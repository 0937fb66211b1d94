package box

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/health"
	"venuebox/cmd/internal/sdnotify"
	"venuebox/cmd/internal/version"
	"venuebox/device"
	"venuebox/store"
)

// Debounces of the box's health conditions: how long each must hold
// before /healthz fails for it (variables for the tests).
var (
	scannerDownAfter    = 30 * time.Second // a replug takes a few seconds
	hqUnreachableAfter  = 2 * time.Minute  // venue Wi-Fi blinks; the gate works offline anyway
	manifestStaleAfter  = time.Minute
	storeUnhealthyAfter = 10 * time.Second
	// eventGrace is how long after its end an event still counts as the
	// one the box serves (late leavers, staff re-entry).
	eventGrace = 6 * time.Hour
	// healthEvery is how often the conditions are sampled between
	// requests.
	healthEvery = 5 * time.Second
)

// openStore opens the box's store through its consistency check and, when
// the store was damaged and rebuilt, says so loudly: what was kept and that
// the ticket cache comes back from the manifest file and then from HQ.
func openStore(path string, cfg *config.Box, log *slog.Logger) (*store.Store, error) {
	st, rec, err := store.OpenChecked(path, store.Identity{Org: cfg.Box.Org, Venue: cfg.Box.Venue, Box: cfg.Box.ID})
	if rec != nil {
		log.Error("STORE DAMAGED: moved aside and rebuilt from what could be read",
			"problem", rec.Problem, "moved_to", rec.MovedTo, "checkins_kept", rec.CheckIns, "queued", rec.Queued,
			"peer_checkins_kept", rec.Peers, "revocations_kept", rec.Revoked, "audit_entries_kept", rec.Audit,
			"all_checkins_read", rec.Complete, "last_boot", rec.LastBoot)
		if cfg.Manifest != "" {
			log.Error("STORE DAMAGED: the ticket cache is rebuilt from the manifest file; newer manifests come again from HQ", "manifest", cfg.Manifest)
		} else {
			log.Error("STORE DAMAGED: no manifest file is configured; the ticket cache stays empty until HQ sends the manifests")
		}
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

// observer is the daemon's health, metrics and systemd notifications.
type observer struct {
	d         *Daemon
	reg       health.Registry
	mon       *health.Monitor
	probe     func(context.Context) error
	decisions *health.CounterVec
	latency   *health.Histogram
	notify    sdnotify.Notifier
	now       func() time.Time
}

// observe prepares the daemon's observer and returns the HTTP handler
// with /healthz and /metrics beside the box's own API, timing each
// POST /api/scan. It also counts every recorded decision.
func (d *Daemon) observe(cfg *config.Box, api http.Handler) http.Handler {
	o := &observer{d: d, notify: sdnotify.FromEnv(), now: d.Box.opts.Now}
	d.obs = o
	o.probe = health.Probe(func(ctx context.Context) error {
		if err := d.Store.Probe(ctx); err != nil {
			return err
		}
		_, err := d.Box.Status() // the box's own locks and a read of the store
		return err
	})
	recorded := d.Box.opts.Recorded
	d.Box.opts.Recorded = func(c store.CheckIn) {
		o.decisions.Inc(c.Verdict, c.Reason)
		if recorded != nil {
			recorded(c)
		}
	}

	var conds []health.Condition
	if cfg.Devices.Scanner != nil {
		conds = append(conds, health.Condition{Name: "scanner-down", After: scannerDownAfter, Holds: o.deviceDown("scanner")})
	}
	if cfg.Devices.NFC != nil {
		conds = append(conds, health.Condition{Name: "card-reader-down", After: scannerDownAfter, Holds: o.deviceDown("card-reader")})
	}
	if d.sync != nil {
		conds = append(conds, health.Condition{Name: "hq-unreachable", After: hqUnreachableAfter, Holds: func(context.Context) (bool, string) {
			return !d.sync.Online(), "the broker has not been reachable"
		}})
	}
	conds = append(conds,
		health.Condition{Name: "manifest-stale", After: manifestStaleAfter, Holds: o.manifestStale},
		health.Condition{Name: "store-unhealthy", After: storeUnhealthyAfter, Holds: func(ctx context.Context) (bool, string) {
			if err := o.probe(ctx); err != nil {
				return true, err.Error()
			}
			return false, ""
		}},
	)
	o.mon = health.NewMonitor(o.now, conds...)
	o.metrics()

	mux := http.NewServeMux()
	mux.Handle("GET /healthz", o.mon)
	mux.Handle("GET /metrics", &o.reg)
	mux.Handle("POST /api/scan", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		api.ServeHTTP(sw, r)
		if sw.code == http.StatusOK {
			o.latency.Observe(time.Since(start).Seconds())
		}
	}))
	mux.Handle("/", api)
	return mux
}

func (o *observer) deviceDown(name string) func(context.Context) (bool, string) {
	return func(context.Context) (bool, string) {
		s, err := o.d.Box.Status()
		if err != nil {
			return false, "" // store-unhealthy says it
		}
		if state, ok := s.Devices[name]; !ok || state != "up" {
			return true, fmt.Sprintf("%s is %s", name, orNone(state, "not open yet"))
		}
		return false, ""
	}
}

// manifestStale holds when the box serves no event: no manifest was ever
// applied, or every event it holds ended more than eventGrace ago, so the
// cache is not the one of today's event.
func (o *observer) manifestStale(context.Context) (bool, string) {
	evs, err := o.d.Store.Events()
	if err != nil {
		return false, "" // store-unhealthy says it
	}
	if len(evs) == 0 {
		return true, "no manifest applied: the box knows no event"
	}
	now := o.now()
	for _, e := range evs {
		if e.End.IsZero() || now.Before(e.End.Add(eventGrace)) {
			return false, ""
		}
	}
	return true, fmt.Sprintf("every event in the cache ended more than %v ago", eventGrace)
}

func (o *observer) metrics() {
	d, r := o.d, &o.reg
	r.Gauge("venuebox_build_info", "The running build's version.", []string{"version"}, func() []health.Sample {
		return []health.Sample{{Labels: []string{version.Version}, Value: 1}}
	})
	o.decisions = r.Counter("venuebox_decisions_total", "Decisions recorded since the daemon started, by verdict and reason.", "verdict", "reason")
	o.latency = r.Histogram("venuebox_decision_seconds", "Time from a code read (scanner) or received (POST /api/scan) to its verdict on disk.", health.DecisionBuckets)
	r.GaugeFunc("venuebox_outbox_depth", "Check-ins HQ has not acknowledged yet.", func() float64 {
		n, err := d.Store.Queued()
		if err != nil {
			return -1
		}
		return float64(n)
	})
	r.GaugeFunc("venuebox_sync_lag_seconds", "Age of the oldest check-in HQ has not acknowledged; 0 when none waits.", func() float64 {
		p, err := d.Store.Pending(1)
		if err != nil || len(p) == 0 {
			return 0
		}
		return max(0, o.now().Sub(p[0].At).Seconds())
	})
	r.Gauge("venuebox_device_up", "1 while a device is up, 0 while it is down.", []string{"device"}, func() []health.Sample {
		s, err := d.Box.Status()
		if err != nil {
			return nil
		}
		var out []health.Sample
		for name, state := range s.Devices {
			out = append(out, health.Sample{Labels: []string{name}, Value: boolValue(state == "up")})
		}
		return out
	})
	if d.sync != nil {
		r.GaugeFunc("venuebox_hq_online", "1 while the broker is reachable.", func() float64 { return boolValue(d.sync.Online()) })
		r.GaugeFunc("venuebox_hq_last_ack_timestamp_seconds", "When HQ last acknowledged check-ins (Unix time; 0: never).", func() float64 {
			if t := d.sync.LastSync(); !t.IsZero() {
				return float64(t.UnixNano()) / 1e9
			}
			return 0
		})
	}
	r.Gauge("venuebox_manifest_version", "The manifest version applied, per event.", []string{"event"}, func() []health.Sample {
		evs, err := d.Store.Events()
		if err != nil {
			return nil
		}
		var out []health.Sample
		for _, e := range evs {
			out = append(out, health.Sample{Labels: []string{e.ID}, Value: float64(e.Version)})
		}
		return out
	})
	r.GaugeFunc("venuebox_boot", "The store's boot counter.", func() float64 { return float64(d.Store.Boot()) })
	r.Gauge("venuebox_health_failing", "1 while a health condition fails (after its debounce).", []string{"condition"}, func() []health.Sample {
		var out []health.Sample
		for _, c := range o.mon.Last().Conditions {
			out = append(out, health.Sample{Labels: []string{c.Name}, Value: boolValue(c.Failing)})
		}
		return out
	})
}

// supervise tells systemd the box is ready, then samples its health and
// pings the watchdog until ctx ends.
func (o *observer) supervise(ctx context.Context, wg *sync.WaitGroup) {
	log := o.d.log
	if err := o.notify.Notify(sdnotify.Ready); err != nil {
		log.Warn("systemd not told the box is ready", "err", err)
	}
	wg.Go(func() { o.mon.Run(ctx, healthEvery) })
	timeout, err := sdnotify.WatchdogInterval()
	if err != nil {
		log.Warn("watchdog not armed", "err", err)
	}
	if timeout > 0 && o.notify.Enabled() {
		log.Info("watchdog armed", "timeout", timeout)
		wg.Go(func() { sdnotify.RunWatchdog(ctx, timeout, o.probe, o.notify.Notify, log) })
	}
	wg.Go(func() {
		<-ctx.Done()
		if err := o.notify.Notify(sdnotify.Stopping); err != nil {
			log.Debug("systemd not told the box stops", "err", err)
		}
	})
}

// timed returns open with each read's decision timed: from the moment
// the scanner hands over a code to the moment the box asks for the next,
// which it does once the verdict is on disk and signalled.
func (o *observer) timed(open OpenScanner) OpenScanner {
	if open == nil {
		return nil
	}
	return func() (device.Scanner, io.Closer, error) {
		s, c, err := open()
		if err != nil {
			return nil, nil, err
		}
		return &timedScanner{Scanner: s, latency: o.latency}, c, nil
	}
}

type timedScanner struct {
	device.Scanner
	latency *health.Histogram
	read    time.Time // when the last code was handed over; zero when none waits
}

func (t *timedScanner) Scan(ctx context.Context) (string, error) {
	if !t.read.IsZero() {
		t.latency.Observe(time.Since(t.read).Seconds())
		t.read = time.Time{}
	}
	code, err := t.Scanner.Scan(ctx)
	if err == nil {
		t.read = time.Now()
	}
	return code, err
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}
