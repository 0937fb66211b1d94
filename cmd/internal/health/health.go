// Package health is what a daemon says about itself: named conditions
// with a debounce behind GET /healthz (200 when none holds, 503 naming
// those that do), and metrics in Prometheus' text exposition format behind
// GET /metrics, written by hand (the format is a few lines; see
// https://prometheus.io/docs/instrumenting/exposition_formats/).
package health

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// A Condition is one named way of being unhealthy, e.g. "scanner-down".
type Condition struct {
	Name string
	// Holds reports whether the condition holds now, and why. It must
	// return when ctx ends.
	Holds func(ctx context.Context) (bool, string)
	// After is how long it must hold, sample after sample, before it
	// counts (the debounce): a scanner replugged or a broker that blinks
	// does not fail the box.
	After time.Duration
}

// Status is one condition as /healthz reports it.
type Status struct {
	Name    string    `json:"name"`
	Failing bool      `json:"failing"`
	Since   time.Time `json:"since,omitzero"` // when it began to hold, while it holds
	Detail  string    `json:"detail,omitempty"`
}

// Report is a sample of every condition.
type Report struct {
	OK         bool     `json:"ok"`
	Failing    []string `json:"failing"`
	Conditions []Status `json:"conditions"`
}

// Monitor samples conditions and debounces them.
type Monitor struct {
	conds []Condition
	now   func() time.Time
	// Timeout bounds one sample of one condition.
	timeout time.Duration

	mu    sync.Mutex
	since map[string]time.Time // when each holding condition began to hold
	last  Report
}

// NewMonitor returns a monitor of conds on the clock now (nil: time.Now).
func NewMonitor(now func() time.Time, conds ...Condition) *Monitor {
	if now == nil {
		now = time.Now
	}
	return &Monitor{conds: conds, now: now, timeout: 2 * time.Second, since: map[string]time.Time{}}
}

// Check samples every condition now and returns the debounced report.
func (m *Monitor) Check(ctx context.Context) Report {
	type sample struct {
		holds  bool
		detail string
	}
	samples := make([]sample, len(m.conds))
	for i, c := range m.conds {
		cctx, cancel := context.WithTimeout(ctx, m.timeout)
		samples[i].holds, samples[i].detail = c.Holds(cctx)
		cancel()
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	r := Report{OK: true, Failing: []string{}, Conditions: make([]Status, 0, len(m.conds))}
	for i, c := range m.conds {
		s := Status{Name: c.Name, Detail: samples[i].detail}
		if !samples[i].holds {
			delete(m.since, c.Name)
			s.Detail = ""
		} else {
			since, ok := m.since[c.Name]
			if !ok {
				since = now
				m.since[c.Name] = now
			}
			s.Since = since
			s.Failing = now.Sub(since) >= c.After
		}
		if s.Failing {
			r.OK = false
			r.Failing = append(r.Failing, c.Name)
		}
		r.Conditions = append(r.Conditions, s)
	}
	m.last = r
	return r
}

// Last returns the report of the latest Check.
func (m *Monitor) Last() Report {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.last
	r.Failing = slices.Clone(r.Failing)
	r.Conditions = slices.Clone(r.Conditions)
	return r
}

// Run samples every interval until ctx ends, so that the debounce runs
// between requests to /healthz.
func (m *Monitor) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		m.Check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ServeHTTP serves GET /healthz: a fresh sample as JSON, status 200 when
// no condition fails and 503 when one does.
func (m *Monitor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rep := m.Check(r.Context())
	code := http.StatusOK
	if !rep.OK {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(rep) // a Report always encodes; a gone client is not our problem
}

// Probe makes check single-flight: a call while an earlier check still
// runs (a wedged store's probe waits for its lock) joins it rather than
// starting another, so checks never pile up. Each call waits at most until
// its ctx ends; the check itself runs to its end.
func Probe(check func(context.Context) error) func(context.Context) error {
	var mu sync.Mutex
	var running chan struct{} // closed when the current check returns
	var lastErr error
	return func(ctx context.Context) error {
		mu.Lock()
		done := running
		if done == nil {
			done = make(chan struct{})
			running = done
			go func() {
				// Not ctx: the check may outlive this call.
				err := check(context.WithoutCancel(ctx))
				mu.Lock()
				lastErr, running = err, nil
				mu.Unlock()
				close(done)
			}()
		}
		mu.Unlock()
		select {
		case <-done:
			mu.Lock()
			defer mu.Unlock()
			return lastErr
		case <-ctx.Done():
			return fmt.Errorf("health: check still running: %w", context.Cause(ctx))
		}
	}
}
