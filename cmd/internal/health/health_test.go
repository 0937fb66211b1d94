package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ t atomic.Pointer[time.Time] }

func newClock() *fakeClock {
	c := &fakeClock{}
	now := time.Date(2026, 5, 20, 9, 0, 0, 0, time.UTC)
	c.t.Store(&now)
	return c
}
func (c *fakeClock) Now() time.Time { return *c.t.Load() }
func (c *fakeClock) Add(d time.Duration) {
	t := c.Now().Add(d)
	c.t.Store(&t)
}

func flag(v *atomic.Bool, detail string) func(context.Context) (bool, string) {
	return func(context.Context) (bool, string) { return v.Load(), detail }
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Body.String()
}

func TestMonitor_debouncesAndNamesFailingConditions(t *testing.T) {
	clk := newClock()
	var scanner, hq atomic.Bool
	m := NewMonitor(clk.Now,
		Condition{Name: "scanner-down", Holds: flag(&scanner, "scanner: down"), After: 10 * time.Second},
		Condition{Name: "hq-unreachable", Holds: flag(&hq, "no broker"), After: time.Minute},
	)
	code, body := get(t, m, "/healthz")
	if code != 200 {
		t.Fatalf("all well: %d %s", code, body)
	}
	var rep Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil || !rep.OK || len(rep.Conditions) != 2 || rep.Conditions[0].Name != "scanner-down" {
		t.Fatalf("report %s (%v)", body, err)
	}

	scanner.Store(true)
	if code, body := get(t, m, "/healthz"); code != 200 {
		t.Errorf("scanner down for 0 s already fails: %s", body)
	}
	clk.Add(5 * time.Second)
	m.Check(context.Background())
	scanner.Store(false) // replugged
	m.Check(context.Background())
	scanner.Store(true)
	m.Check(context.Background()) // down again since 5 s
	clk.Add(9 * time.Second)
	if code, body := get(t, m, "/healthz"); code != 200 {
		t.Errorf("a replug restarts the debounce, yet: %s", body)
	}
	clk.Add(time.Second)
	hq.Store(true)
	code, body = get(t, m, "/healthz")
	if code != 503 {
		t.Fatalf("scanner down 10 s: %d %s", code, body)
	}
	rep = Report{}
	json.Unmarshal([]byte(body), &rep)
	if len(rep.Failing) != 1 || rep.Failing[0] != "scanner-down" || rep.Conditions[0].Detail != "scanner: down" || rep.Conditions[0].Since.IsZero() {
		t.Errorf("503 body %s: want scanner-down alone failing, with its detail and since", body)
	}
	if rep.Conditions[1].Failing || rep.Conditions[1].Since.IsZero() {
		t.Errorf("hq-unreachable just began: %+v", rep.Conditions[1])
	}
	clk.Add(time.Minute)
	if _, body := get(t, m, "/healthz"); !strings.Contains(body, `"failing":["scanner-down","hq-unreachable"]`) {
		t.Errorf("both failing: %s", body)
	}
	scanner.Store(false)
	hq.Store(false)
	if code, _ := get(t, m, "/healthz"); code != 200 {
		t.Error("cleared conditions still fail")
	}
	if last := m.Last(); !last.OK {
		t.Errorf("Last %+v", last)
	}
}

func TestMonitor_conditionThatHangsIsBounded(t *testing.T) {
	m := NewMonitor(nil, Condition{Name: "store-unhealthy", Holds: func(ctx context.Context) (bool, string) {
		<-ctx.Done()
		return true, "probe timed out"
	}})
	m.timeout = 10 * time.Millisecond
	if r := m.Check(context.Background()); r.OK {
		t.Errorf("a hanging probe with After 0 must fail: %+v", r)
	}
}

func TestProbe_singleFlight(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	p := Probe(func(context.Context) error {
		calls.Add(1)
		<-release
		return errors.New("store wedged")
	})
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		err := p(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("call while the check hangs: %v", err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d checks started, want 1", n)
	}
	got := make(chan error)
	go func() { got <- p(context.Background()) }()
	close(release)
	if err := <-got; err == nil || err.Error() != "store wedged" {
		t.Errorf("a caller waiting on the check gets %v, want its result", err)
	}
}

func TestRegistry_exposition(t *testing.T) {
	var r Registry
	dec := r.Counter("venuebox_decisions_total", "Decisions recorded, by verdict and reason.", "verdict", "reason")
	dec.Inc("admitted", "ok")
	dec.Inc("admitted", "ok")
	dec.Add(3, "rejected", "already-used")
	dec.Add(-1, "rejected", "already-used") // counters never go down
	dec.Inc("only-one-label")               // wrong arity: ignored
	lat := r.Histogram("venuebox_decision_seconds", "Scan to verdict.", []float64{0.01, 0.1, 1})
	for _, v := range []float64{0.005, 0.01, 0.05, 2} {
		lat.Observe(v)
	}
	r.GaugeFunc("venuebox_outbox_depth", "Check-ins HQ has not acknowledged.", func() float64 { return 7 })
	r.Gauge("venuebox_device_up", "1 when the device is up.", []string{"device"}, func() []Sample {
		return []Sample{{Labels: []string{"scanner"}, Value: 1}, {Labels: []string{`odd"na\me`}, Value: 0}}
	})
	want := `# HELP venuebox_decisions_total Decisions recorded, by verdict and reason.
# TYPE venuebox_decisions_total counter
venuebox_decisions_total{verdict="admitted",reason="ok"} 2
venuebox_decisions_total{verdict="rejected",reason="already-used"} 3
# HELP venuebox_decision_seconds Scan to verdict.
# TYPE venuebox_decision_seconds histogram
venuebox_decision_seconds_bucket{le="0.01"} 2
venuebox_decision_seconds_bucket{le="0.1"} 3
venuebox_decision_seconds_bucket{le="1"} 3
venuebox_decision_seconds_bucket{le="+Inf"} 4
venuebox_decision_seconds_sum 2.065
venuebox_decision_seconds_count 4
# HELP venuebox_outbox_depth Check-ins HQ has not acknowledged.
# TYPE venuebox_outbox_depth gauge
venuebox_outbox_depth 7
# HELP venuebox_device_up 1 when the device is up.
# TYPE venuebox_device_up gauge
venuebox_device_up{device="odd\"na\\me"} 0
venuebox_device_up{device="scanner"} 1
`
	if got := r.String(); got != want {
		t.Errorf("exposition:\n%s\nwant:\n%s", got, want)
	}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") || rec.Body.String() != want {
		t.Errorf("served %q:\n%s", ct, rec.Body.String())
	}
	if dec.Value("admitted", "ok") != 2 || lat.Count() != 4 {
		t.Error("Value or Count wrong")
	}
}

// TestRegistry_parsesAsPrometheusText checks every line of a busy
// exposition against the text format's grammar.
func TestRegistry_parsesAsPrometheusText(t *testing.T) {
	var r Registry
	c := r.Counter("a_total", "multi\nline \\ help", "l")
	c.Inc("x\ny")
	r.Histogram("h_seconds", "h", DecisionBuckets).Observe(0.2)
	r.GaugeFunc("g", "g", func() float64 { return 1.5e9 })
	for _, line := range strings.Split(strings.TrimSuffix(r.String(), "\n"), "\n") {
		if !exposition.MatchString(line) {
			t.Errorf("not in the text format: %q", line)
		}
	}
}

// exposition matches one line of the text format: a HELP or TYPE comment,
// or a sample with optional labels (escaped values) and a float.
var exposition = regexp.MustCompile(`^(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*|` +
	`[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*\})? ` +
	`(\+Inf|-Inf|NaN|[-+]?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?))$`)
