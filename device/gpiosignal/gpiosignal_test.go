package gpiosignal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// fakeClock is a clock that moves only when a test advances it. Tests run
// in a synctest bubble so that they can tell when the pattern goroutine has
// done all it can at the current time (synctest.Wait).
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 5, 1, 18, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
	} else {
		c.timers = append(c.timers, fakeTimer{c.now.Add(d), ch})
	}
	return ch
}

// advance moves the clock on by d, firing the timers due on the way in
// order and letting the bubble settle after each.
func (c *fakeClock) advance(d time.Duration) {
	synctest.Wait()
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		i := -1
		for j, t := range c.timers {
			if !t.at.After(end) && (i < 0 || t.at.Before(c.timers[i].at)) {
				i = j
			}
		}
		if i < 0 {
			c.now = end
			c.mu.Unlock()
			synctest.Wait()
			return
		}
		t := c.timers[i]
		c.timers = slices.Delete(c.timers, i, i+1)
		c.now = t.at
		c.mu.Unlock()
		t.ch <- t.at // buffered; an abandoned timer's channel just fills
		synctest.Wait()
	}
}

// A change is a pin's level changing, at an offset from the test's start.
type change struct {
	at    time.Duration
	pin   string
	level gpio.Level
}

func (c change) String() string { return fmt.Sprintf("%v %s %s", c.at, c.pin, c.level) }

// recorder collects the changes of every pin.
type recorder struct {
	clk   *fakeClock
	start time.Time

	mu      sync.Mutex
	changes []change
}

func (r *recorder) take() []change {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.changes
	r.changes = nil
	return c
}

// recPin is a fake output pin that records its level changes and can be
// made to fail. (periph's gpiotest.Pin would serve, but gpiotest imports
// github.com/jonboulle/clockwork, which go.mod does not list.)
type recPin struct {
	name string
	rec  *recorder // nil records nothing

	mu    sync.Mutex
	level gpio.Level
	fail  error
}

func (p *recPin) String() string   { return p.name }
func (p *recPin) Halt() error      { return nil }
func (p *recPin) Name() string     { return p.name }
func (p *recPin) Number() int      { return -1 }
func (p *recPin) Function() string { return "Out/" + p.Read().String() }

func (p *recPin) PWM(gpio.Duty, physic.Frequency) error {
	return errors.New("recPin: no PWM")
}

func (p *recPin) Out(l gpio.Level) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	if l != p.level && p.rec != nil {
		p.rec.mu.Lock()
		p.rec.changes = append(p.rec.changes, change{p.rec.clk.Now().Sub(p.rec.start), p.name, l})
		p.rec.mu.Unlock()
	}
	p.level = l
	return nil
}

func (p *recPin) Read() gpio.Level {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.level
}

func (p *recPin) setFail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = err
}

// gate is a Dev on four recorded pins and a fake clock.
type gate struct {
	t                         *testing.T
	clk                       *fakeClock
	rec                       *recorder
	green, red, buzzer, relay *recPin
	d                         *Dev
	log                       *syncBuffer
}

func newGate(t *testing.T, edit func(*Opts)) *gate {
	t.Helper()
	clk := newFakeClock()
	rec := &recorder{clk: clk, start: clk.Now()}
	pin := func(name string) *recPin { return &recPin{name: name, rec: rec} }
	g := &gate{t: t, clk: clk, rec: rec,
		green: pin("GPIO17"), red: pin("GPIO27"), buzzer: pin("GPIO22"), relay: pin("GPIO23"),
		log: &syncBuffer{}}
	o := DefaultOpts
	o.Clock = clk
	o.Logger = slog.New(slog.NewTextHandler(g.log, nil))
	if edit != nil {
		edit(&o)
	}
	d, err := New(Pins{Green: g.green, Red: g.red, Buzzer: g.buzzer, Relay: g.relay}, &o)
	if err != nil {
		t.Fatal(err)
	}
	g.d = d
	return g
}

// expect checks the changes since the last call.
func (g *gate) expect(want ...change) {
	g.t.Helper()
	synctest.Wait()
	if got := g.rec.take(); !slices.Equal(got, want) {
		g.t.Errorf("pin changes:\n got %v\nwant %v", got, want)
	}
}

// settle lets the pattern goroutine do what it can now, and forgets the
// changes so far.
func (g *gate) settle() {
	synctest.Wait()
	g.rec.take()
}

// halt halts the Dev and checks that every pin is low.
func (g *gate) halt() {
	g.t.Helper()
	if err := g.d.Halt(); err != nil {
		g.t.Errorf("Halt: %v", err)
	}
	g.allLow()
}

func (g *gate) allLow() {
	g.t.Helper()
	for _, p := range []*recPin{g.green, g.red, g.buzzer, g.relay} {
		if l := p.Read(); l != gpio.Low {
			g.t.Errorf("%s is %s, want Low", p.name, l)
		}
	}
}

// syncBuffer is a bytes.Buffer for a logger on another goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

const ms = time.Millisecond

var (
	hi = gpio.High
	lo = gpio.Low
)

func TestShow_admitted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(t, nil)
		g.d.Show(Admitted)
		g.expect(change{0, "GPIO17", hi}, change{0, "GPIO23", hi}, change{0, "GPIO22", hi})
		g.clk.advance(100 * ms)
		g.expect(change{100 * ms, "GPIO22", lo})
		g.clk.advance(400 * ms)
		g.expect(change{500 * ms, "GPIO23", lo})
		g.clk.advance(2 * time.Second)
		g.expect(change{2000 * ms, "GPIO17", lo})
		g.allLow()
		g.halt()
	})
}

func TestShow_rejected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(t, nil)
		g.d.Show(Rejected)
		g.clk.advance(3 * time.Second)
		g.expect(
			change{0, "GPIO27", hi}, change{0, "GPIO22", hi},
			change{100 * ms, "GPIO22", lo},
			change{200 * ms, "GPIO22", hi}, change{300 * ms, "GPIO22", lo},
			change{400 * ms, "GPIO22", hi}, change{500 * ms, "GPIO22", lo},
			change{2000 * ms, "GPIO27", lo},
		)
		g.halt()
	})
}

func TestShow_held(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(t, func(o *Opts) { o.Hold, o.Blink, o.LongBeep = time.Second, 250*ms, 600*ms })
		g.d.Show(Held)
		g.clk.advance(5 * time.Second)
		g.expect(
			change{0, "GPIO17", hi}, change{0, "GPIO22", hi},
			change{250 * ms, "GPIO17", lo}, change{250 * ms, "GPIO27", hi},
			change{500 * ms, "GPIO27", lo}, change{500 * ms, "GPIO17", hi},
			change{600 * ms, "GPIO22", lo},
			change{750 * ms, "GPIO17", lo}, change{750 * ms, "GPIO27", hi},
			change{1000 * ms, "GPIO27", lo},
		)
		g.halt()
	})
}

func TestShow_heldDefaultNeverTouchesRelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(t, nil)
		g.d.Show(Held)
		g.clk.advance(10 * time.Second)
		var greens, reds int
		for _, c := range g.rec.take() {
			switch {
			case c.pin == "GPIO23":
				t.Errorf("held moved the relay: %v", c)
			case c.pin == "GPIO17" && c.level == hi:
				greens++
			case c.pin == "GPIO27" && c.level == hi:
				reds++
			}
		}
		// 3 s of 250 ms turns: six each.
		if greens != 6 || reds != 6 {
			t.Errorf("green lit %d times, red %d; want 6 and 6", greens, reds)
		}
		g.allLow()
		g.halt()
	})
}

func TestShow_preemptEndsRelayPulseLow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(t, nil)
		g.d.Show(Admitted)
		g.clk.advance(200 * ms)
		g.expect(change{0, "GPIO17", hi}, change{0, "GPIO23", hi}, change{0, "GPIO22", hi}, change{100 * ms, "GPIO22", lo})
		g.d.Show(Rejected)
		g.expect(change{200 * ms, "GPIO17", lo}, change{200 * ms, "GPIO23", lo},
			change{200 * ms, "GPIO27", hi}, change{200 * ms, "GPIO22", hi})
		g.clk.advance(5 * time.Second)
		for _, c := range g.rec.take() {
			if c.pin == "GPIO23" || c.pin == "GPIO17" {
				t.Errorf("admitted's pattern went on after rejected: %v", c)
			}
		}
		g.allLow()
		g.halt()
	})
}

func TestShow_admittedAgainIsANewPulse(t *testing.T) {
	// The next person's admission releases the turnstile again: the relay
	// drops, then a whole new pulse starts.
	synctest.Test(t, func(t *testing.T) {
		g := newGate(t, func(o *Opts) { o.Beep = 50 * ms })
		g.d.Show(Admitted)
		g.clk.advance(300 * ms)
		g.settle()
		g.d.Show(Admitted)
		g.expect(change{300 * ms, "GPIO17", lo}, change{300 * ms, "GPIO23", lo},
			change{300 * ms, "GPIO17", hi}, change{300 * ms, "GPIO23", hi}, change{300 * ms, "GPIO22", hi})
		g.clk.advance(500 * ms)
		g.expect(change{350 * ms, "GPIO22", lo}, change{800 * ms, "GPIO23", lo})
		g.halt()
	})
}

func TestShow_noBacklog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(t, nil)
		g.d.Show(Held)
		synctest.Wait()
		before := runtime.NumGoroutine()
		verdicts := []string{Rejected, Admitted, Held}
		for i := range 1000 {
			g.d.Show(verdicts[i%3]) // the last, i = 999, is Rejected
		}
		synctest.Wait()
		if n := runtime.NumGoroutine(); n > before {
			t.Errorf("%d goroutines after 1000 Shows, %d before", n, before)
		}
		if n := len(g.d.kick); n > 1 {
			t.Errorf("%d wake-ups pending", n)
		}
		// Everything happened at once; from here on only the last
		// verdict plays, once.
		g.settle()
		g.clk.advance(time.Minute)
		g.expect(
			change{100 * ms, "GPIO22", lo},
			change{200 * ms, "GPIO22", hi}, change{300 * ms, "GPIO22", lo},
			change{400 * ms, "GPIO22", hi}, change{500 * ms, "GPIO22", lo},
			change{2000 * ms, "GPIO27", lo},
		)
		g.halt()
	})
}

func TestShow_neverBlocks(t *testing.T) {
	// On the real scheduler, with a clock that never fires: every pattern
	// waits for ever, and Show must still come straight back.
	before := runtime.NumGoroutine()
	pins := []*recPin{{name: "G"}, {name: "R"}, {name: "B"}, {name: "Y"}}
	d, err := New(Pins{pins[0], pins[1], pins[2], pins[3]}, &Opts{
		Light: time.Hour, Relay: time.Hour, Beep: time.Hour, BeepGap: time.Hour,
		Hold: time.Hour, Blink: time.Hour, LongBeep: time.Hour, Clock: newFakeClock(),
	})
	if err != nil {
		t.Fatal(err)
	}
	d.Show(Admitted)
	verdicts := []string{Admitted, Rejected, Held}
	start := time.Now()
	for i := range 1000 {
		d.Show(verdicts[i%3])
	}
	if took := time.Since(start); took > 10*time.Second { // Show must not block; a slow machine is no failure
		t.Errorf("1000 Shows took %v", took)
	}
	if n := runtime.NumGoroutine(); n > before+1 {
		t.Errorf("%d goroutines after 1000 Shows, %d before New", n, before)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	for _, p := range pins {
		if p.Read() != gpio.Low {
			t.Errorf("%s left %s", p.name, p.Read())
		}
	}
	// Show allocates nothing of its own, so a flood of verdicts cannot
	// grow memory: at most one pattern waits.
	if n := testing.AllocsPerRun(100, func() { d.Show(Rejected) }); n != 0 {
		t.Errorf("Show allocates %v times per call", n)
	}
}

func TestShow_unknownVerdict(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(t, nil)
		g.d.Show(Admitted)
		g.settle()
		g.d.Show("maybe")
		g.clk.advance(100 * ms)
		g.expect(change{100 * ms, "GPIO22", lo}) // admitted goes on
		if !strings.Contains(g.log.String(), `msg="unknown verdict not shown" dev="gpiosignal{green:GPIO17 red:GPIO27 buzzer:GPIO22 relay:GPIO23}" verdict=maybe`) {
			t.Errorf("log = %q", g.log.String())
		}
		g.halt()
	})
}

func TestShow_notFittedPinsSkipped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := newFakeClock()
		rec := &recorder{clk: clk, start: clk.Now()}
		relay := &recPin{name: "GPIO23", rec: rec}
		d, err := New(Pins{Relay: relay}, &Opts{
			Light: 2 * time.Second, Relay: 500 * ms, Beep: 100 * ms, BeepGap: 100 * ms,
			Hold: time.Second, Blink: 250 * ms, LongBeep: time.Second, Clock: clk,
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := d.String(), "gpiosignal{relay:GPIO23}"; got != want {
			t.Errorf("String = %q, want %q", got, want)
		}
		for _, v := range []string{Rejected, Held, Admitted} {
			d.Show(v)
			clk.advance(3 * time.Second)
		}
		if got, want := rec.take(), []change{{6 * time.Second, "GPIO23", hi}, {6*time.Second + 500*ms, "GPIO23", lo}}; !slices.Equal(got, want) {
			t.Errorf("changes %v, want %v", got, want)
		}
		if err := d.Halt(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestShow_pinErrorLogged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(t, nil)
		g.buzzer.setFail(errors.New("buzzer gone"))
		g.d.Show(Admitted)
		g.clk.advance(3 * time.Second)
		// The rest of the pattern still plays.
		g.expect(change{0, "GPIO17", hi}, change{0, "GPIO23", hi},
			change{500 * ms, "GPIO23", lo}, change{2000 * ms, "GPIO17", lo})
		if want := `msg="pattern failed"`; !strings.Contains(g.log.String(), want) ||
			!strings.Contains(g.log.String(), "buzzer (GPIO22) low: buzzer gone") {
			t.Errorf("log = %q, want %s with the buzzer's error", g.log.String(), want)
		}
		g.buzzer.setFail(nil)
		g.halt()
	})
}

func TestHalt_duringPattern(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(t, nil)
		g.d.Show(Admitted)
		g.clk.advance(100 * ms)
		g.settle()
		g.halt()
		g.expect(change{100 * ms, "GPIO17", lo}, change{100 * ms, "GPIO23", lo})
		// Halted, it shows nothing more and halts again quietly.
		g.d.Show(Admitted)
		g.clk.advance(time.Second)
		g.expect()
		if err := g.d.Halt(); err != nil {
			t.Errorf("second Halt: %v", err)
		}
		if err := g.d.Pulse(context.Background(), Relay, time.Second); !errors.Is(err, ErrHalted) {
			t.Errorf("Pulse after Halt = %v, want ErrHalted", err)
		}
	})
}

func TestHalt_reportsPinErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(t, nil)
		g.relay.setFail(errors.New("relay gone"))
		err := g.d.Halt()
		if err == nil || err.Error() != "gpiosignal: halt: relay (GPIO23) low: relay gone" {
			t.Errorf("Halt = %v", err)
		}
		if err2 := g.d.Halt(); err2 == nil || err2.Error() != err.Error() {
			t.Errorf("second Halt = %v, want %v", err2, err)
		}
	})
}

// pulse runs Pulse on its own goroutine.
func (g *gate) pulse(ctx context.Context, o Output, d time.Duration) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- g.d.Pulse(ctx, o, d) }()
	synctest.Wait()
	return errc
}

func TestPulse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(t, nil)
		for i, o := range []Output{Green, Red, Buzzer, Relay} {
			errc := g.pulse(context.Background(), o, 300*ms)
			g.clk.advance(300 * ms)
			if err := <-errc; err != nil {
				t.Errorf("Pulse(%s) = %v", o, err)
			}
			at := time.Duration(i) * 300 * ms
			name := []string{"GPIO17", "GPIO27", "GPIO22", "GPIO23"}[i]
			g.expect(change{at, name, hi}, change{at + 300*ms, name, lo})
		}
		g.halt()
	})
}

func TestPulse_preemptedByVerdict(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(t, nil)
		errc := g.pulse(context.Background(), Relay, time.Second)
		g.clk.advance(100 * ms)
		g.d.Show(Rejected)
		if err := <-errc; !errors.Is(err, ErrPreempted) || err.Error() != "gpiosignal: pulse relay: pre-empted" {
			t.Errorf("Pulse = %v, want ErrPreempted", err)
		}
		g.expect(change{0, "GPIO23", hi}, change{100 * ms, "GPIO23", lo},
			change{100 * ms, "GPIO27", hi}, change{100 * ms, "GPIO22", hi})
		g.halt()
	})
}

func TestPulse_canceledEndsLow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		errc := g.pulse(ctx, Relay, time.Second)
		g.clk.advance(100 * ms)
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("Pulse = %v, want context.Canceled", err)
		}
		g.expect(change{0, "GPIO23", hi}, change{100 * ms, "GPIO23", lo})
		g.allLow()
		g.halt()
	})
}

func TestPulse_canceledAfterVerdictLeavesVerdict(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		errc := g.pulse(ctx, Relay, time.Second)
		g.d.Show(Rejected)
		if err := <-errc; !errors.Is(err, ErrPreempted) {
			t.Errorf("Pulse = %v, want ErrPreempted", err)
		}
		cancel()
		g.settle()
		g.clk.advance(100 * ms)
		g.expect(change{100 * ms, "GPIO22", lo}) // rejected plays on
		g.halt()
	})
}

func TestPulse_replacedBeforeItStarts(t *testing.T) {
	// A pulse still waiting for the goroutine when another starts is told
	// at once, not left waiting.
	synctest.Test(t, func(t *testing.T) {
		g := newGate(t, nil)
		p := pulse(Relay, g.relay, time.Second)
		g.d.mu.Lock()
		g.d.startLocked(p)
		g.d.startLocked(g.d.patterns[Held])
		g.d.mu.Unlock()
		if err := <-p.done; !errors.Is(err, ErrPreempted) {
			t.Errorf("replaced pulse: %v, want ErrPreempted", err)
		}
		g.halt()
	})
}

func TestPulse_errors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := newFakeClock()
		green := &recPin{name: "GPIO17"}
		o := DefaultOpts
		o.Clock = clk
		d, err := New(Pins{Green: green}, &o)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := d.Pulse(ctx, Relay, time.Second); !errors.Is(err, ErrNotFitted) || err.Error() != "gpiosignal: pulse relay: output not fitted" {
			t.Errorf("Pulse(not fitted) = %v", err)
		}
		if err := d.Pulse(ctx, Output(7), time.Second); !errors.Is(err, ErrNotFitted) || err.Error() != "gpiosignal: pulse Output(7): output not fitted" {
			t.Errorf("Pulse(Output(7)) = %v", err)
		}
		if err := d.Pulse(ctx, Green, 0); err == nil || err.Error() != "gpiosignal: pulse green: duration 0s must be positive" {
			t.Errorf("Pulse(0) = %v", err)
		}
		boom := errors.New("boom")
		green.setFail(boom)
		errc := make(chan error, 1)
		go func() { errc <- d.Pulse(ctx, Green, time.Second) }()
		clk.advance(time.Second)
		if err := <-errc; !errors.Is(err, boom) || err.Error() != "gpiosignal: pulse green: green (GPIO17) low: boom" {
			t.Errorf("Pulse(failing pin) = %v", err)
		}
		green.setFail(nil)
		if err := d.Halt(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestNew_validates(t *testing.T) {
	pin := &recPin{name: "GPIO17"}
	for _, tt := range []struct {
		name string
		pins Pins
		edit func(*Opts)
		want string
	}{
		{"no pins", Pins{}, nil, "gpiosignal: no output fitted"},
		{"light", Pins{Green: pin}, func(o *Opts) { o.Light = 0 }, "gpiosignal: Light 0s must be positive"},
		{"relay", Pins{Green: pin}, func(o *Opts) { o.Relay = -ms }, "gpiosignal: Relay -1ms must be positive"},
		{"beep", Pins{Green: pin}, func(o *Opts) { o.Beep = 0 }, "gpiosignal: Beep 0s must be positive"},
		{"gap", Pins{Green: pin}, func(o *Opts) { o.BeepGap = 0 }, "gpiosignal: BeepGap 0s must be positive"},
		{"hold", Pins{Green: pin}, func(o *Opts) { o.Hold = 0 }, "gpiosignal: Hold 0s must be positive"},
		{"blink", Pins{Green: pin}, func(o *Opts) { o.Blink = 0 }, "gpiosignal: Blink 0s must be positive"},
		{"long beep", Pins{Green: pin}, func(o *Opts) { o.LongBeep = 0 }, "gpiosignal: LongBeep 0s must be positive"},
	} {
		o := DefaultOpts
		if tt.edit != nil {
			tt.edit(&o)
		}
		if _, err := New(tt.pins, &o); err == nil || err.Error() != tt.want {
			t.Errorf("%s: New = %v, want %q", tt.name, err, tt.want)
		}
	}
	bad := &recPin{name: "GPIO5", fail: errors.New("not an output")}
	if _, err := New(Pins{Relay: bad}, nil); err == nil || err.Error() != "gpiosignal: set outputs low: relay (GPIO5) low: not an output" {
		t.Errorf("New(failing pin) = %v", err)
	}
}

func TestNew_setsPinsLow(t *testing.T) {
	pin := &recPin{name: "GPIO23", level: gpio.High}
	d, err := New(Pins{Relay: pin}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pin.Read() != gpio.Low {
		t.Error("New left the relay high")
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
}

func TestOutput_String(t *testing.T) {
	for o, want := range map[Output]string{Green: "green", Red: "red", Buzzer: "buzzer", Relay: "relay", -1: "Output(-1)"} {
		if got := o.String(); got != want {
			t.Errorf("Output(%d).String() = %q, want %q", int(o), got, want)
		}
	}
}
