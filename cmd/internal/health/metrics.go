package health

import (
	"bufio"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Registry holds a daemon's metrics and writes them in Prometheus' text
// format (version 0.0.4). Counters and histograms are kept here; gauges
// are read when scraped, from functions the daemon gives.
type Registry struct {
	mu      sync.Mutex
	metrics []metric
}

type metric interface {
	write(w *bufio.Writer)
}

// header writes a metric's HELP and TYPE lines.
func header(w *bufio.Writer, name, help, typ string) {
	help = strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(help)
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// labels formats names and values as {a="x",b="y"}, escaped; "" for none.
func labels(names, values []string) string {
	if len(names) == 0 {
		return ""
	}
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `%s="%s"`, n, esc.Replace(values[i]))
	}
	b.WriteByte('}')
	return b.String()
}

func value(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func (r *Registry) add(m metric) {
	r.mu.Lock()
	r.metrics = append(r.metrics, m)
	r.mu.Unlock()
}

// ServeHTTP serves GET /metrics.
func (r *Registry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	bw := bufio.NewWriter(w)
	r.mu.Lock()
	ms := slices.Clone(r.metrics)
	r.mu.Unlock()
	for _, m := range ms {
		m.write(bw)
	}
	bw.Flush() // a gone scraper is not our problem
}

// String returns the exposition, for tests and the selftest.
func (r *Registry) String() string {
	var b strings.Builder
	bw := bufio.NewWriter(&b)
	r.mu.Lock()
	ms := slices.Clone(r.metrics)
	r.mu.Unlock()
	for _, m := range ms {
		m.write(bw)
	}
	bw.Flush()
	return b.String()
}

// CounterVec is a counter with labels.
type CounterVec struct {
	name, help string
	labels     []string
	mu         sync.Mutex
	series     map[string]*seriesValue
}

type seriesValue struct {
	values []string
	v      float64
}

// Counter adds a counter with the label names given.
func (r *Registry) Counter(name, help string, labelNames ...string) *CounterVec {
	c := &CounterVec{name: name, help: help, labels: labelNames, series: map[string]*seriesValue{}}
	r.add(c)
	return c
}

// Add adds d (≥ 0) to the series of the label values given, in the order
// of the names.
func (c *CounterVec) Add(d float64, values ...string) {
	if d < 0 || len(values) != len(c.labels) {
		return
	}
	key := strings.Join(values, "\xff")
	c.mu.Lock()
	s, ok := c.series[key]
	if !ok {
		s = &seriesValue{values: slices.Clone(values)}
		c.series[key] = s
	}
	s.v += d
	c.mu.Unlock()
}

// Inc adds one.
func (c *CounterVec) Inc(values ...string) { c.Add(1, values...) }

// Value returns a series' count.
func (c *CounterVec) Value(values ...string) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.series[strings.Join(values, "\xff")]; ok {
		return s.v
	}
	return 0
}

func (c *CounterVec) write(w *bufio.Writer) {
	header(w, c.name, c.help, "counter")
	c.mu.Lock()
	keys := make([]string, 0, len(c.series))
	for k := range c.series {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		s := c.series[k]
		fmt.Fprintf(w, "%s%s %s\n", c.name, labels(c.labels, s.values), value(s.v))
	}
	c.mu.Unlock()
}

// A Sample is one gauge series: its label values and value.
type Sample struct {
	Labels []string
	Value  float64
}

type gauge struct {
	name, help string
	labels     []string
	read       func() []Sample
}

// Gauge adds a gauge read when scraped: read returns one sample per
// series (nil or empty: none now).
func (r *Registry) Gauge(name, help string, labelNames []string, read func() []Sample) {
	r.add(&gauge{name: name, help: help, labels: labelNames, read: read})
}

// GaugeFunc adds a gauge without labels.
func (r *Registry) GaugeFunc(name, help string, read func() float64) {
	r.Gauge(name, help, nil, func() []Sample { return []Sample{{Value: read()}} })
}

func (g *gauge) write(w *bufio.Writer) {
	header(w, g.name, g.help, "gauge")
	samples := g.read()
	slices.SortFunc(samples, func(a, b Sample) int { return slices.Compare(a.Labels, b.Labels) })
	for _, s := range samples {
		if len(s.Labels) != len(g.labels) {
			continue
		}
		fmt.Fprintf(w, "%s%s %s\n", g.name, labels(g.labels, s.Labels), value(s.Value))
	}
}

// Histogram counts observations into cumulative buckets.
type Histogram struct {
	name, help string
	bounds     []float64
	mu         sync.Mutex
	counts     []uint64 // per bucket, not cumulative; the last is +Inf
	sum        float64
	n          uint64
}

// Histogram adds a histogram with the given upper bounds, ascending.
func (r *Registry) Histogram(name, help string, bounds []float64) *Histogram {
	h := &Histogram{name: name, help: help, bounds: slices.Clone(bounds), counts: make([]uint64, len(bounds)+1)}
	slices.Sort(h.bounds)
	r.add(h)
	return h
}

// Observe records one value.
func (h *Histogram) Observe(v float64) {
	i, _ := slices.BinarySearch(h.bounds, v) // the first bound ≥ v: le is inclusive
	h.mu.Lock()
	h.counts[i]++
	h.sum += v
	h.n++
	h.mu.Unlock()
}

// Count returns how many values were observed.
func (h *Histogram) Count() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

func (h *Histogram) write(w *bufio.Writer) {
	header(w, h.name, h.help, "histogram")
	h.mu.Lock()
	defer h.mu.Unlock()
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i]
		fmt.Fprintf(w, "%s_bucket{le=\"%s\"} %d\n", h.name, value(b), cum)
	}
	cum += h.counts[len(h.bounds)]
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %s\n%s_count %d\n", h.name, cum, h.name, value(h.sum), h.name, h.n)
}

// DecisionBuckets are the bounds, in seconds, of a decision latency
// histogram: a gate answers within a few tens of milliseconds (one
// fsync'd commit on an SD card), and a person notices past half a second.
var DecisionBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
