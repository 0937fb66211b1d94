// Package gpiosignal shows a gate's verdict on GPIO outputs: a green LED, a
// red LED, a buzzer and the turnstile (or door) relay.
//
// Show must never hold up the next scan, so it only hands the verdict to a
// goroutine the Dev owns, which plays the verdict's pattern with an
// injected clock. A new verdict pre-empts the pattern under way instead of
// queueing behind it: at a busy gate the lights must tell the person in
// front of them about their own ticket, not replay a backlog. Each pattern
// starts with every output low, so a relay pulse cut short by the next
// verdict still ends with the relay released.
//
// Every output is active high, and low is safe: off, quiet, turnstile
// locked. Halt leaves every output low, and so should the wiring while the
// box boots or is down: use a relay module that is energised by a high
// input, and pins that the SoC pulls down at reset (on a Raspberry Pi up to
// the 4, GPIO9 to GPIO27; GPIO0 to GPIO8 are pulled up). See the Raspberry
// Pi hardware documentation on GPIO:
// https://www.raspberrypi.com/documentation/computers/raspberry-pi.html
//
// New takes pins it does not own, any gpio.PinOut, so tests use
// gpiotest.Pin; Open looks the pins up by name on the host, when the
// application asks (never in an init function).
package gpiosignal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/gpio"

	"venuebox/device"
	"venuebox/device/clock"
)

// The verdicts Show knows, as the gate names them on the wire.
const (
	Admitted = "admitted"
	Rejected = "rejected"
	Held     = "held"
)

// Errors of Pulse, which wraps them as "gpiosignal: pulse relay: halted".
var (
	// ErrNotFitted means the output has no pin.
	ErrNotFitted = errors.New("output not fitted")
	// ErrPreempted means a verdict, or another pulse, took over the outputs.
	ErrPreempted = errors.New("pre-empted")
	// ErrHalted means the Dev is halted.
	ErrHalted = errors.New("halted")
)

// An Output is one of the gate's outputs.
type Output int

// The outputs.
const (
	Green Output = iota
	Red
	Buzzer
	Relay
)

// String names the output: green, red, buzzer or relay.
func (o Output) String() string {
	switch o {
	case Green:
		return "green"
	case Red:
		return "red"
	case Buzzer:
		return "buzzer"
	case Relay:
		return "relay"
	}
	return fmt.Sprintf("Output(%d)", int(o))
}

// Pins are the gate's outputs. A nil pin is not fitted; at least one must
// be.
type Pins struct {
	Green  gpio.PinOut // lit for admitted
	Red    gpio.PinOut // lit for rejected
	Buzzer gpio.PinOut // beeps for every verdict
	Relay  gpio.PinOut // pulsed for admitted: releases the turnstile
}

// pin returns the pin of output o, nil when not fitted or not an output.
func (p *Pins) pin(o Output) gpio.PinOut {
	switch o {
	case Green:
		return p.Green
	case Red:
		return p.Red
	case Buzzer:
		return p.Buzzer
	case Relay:
		return p.Relay
	}
	return nil
}

// all returns the pins, nil where not fitted, indexed by Output.
func (p *Pins) all() [4]gpio.PinOut {
	return [4]gpio.PinOut{p.Green, p.Red, p.Buzzer, p.Relay}
}

// Opts are the durations of the patterns; each must be positive.
type Opts struct {
	// Light is how long the green LED (admitted) or the red LED (rejected)
	// stays lit.
	Light time.Duration
	// Relay is how long the relay is held for admitted: long enough for
	// the turnstile's controller to see it, short enough to let one person
	// through.
	Relay time.Duration
	// Beep is a short beep: one for admitted, three for rejected.
	Beep time.Duration
	// BeepGap is the silence between rejected's beeps.
	BeepGap time.Duration
	// Hold is how long held alternates the LEDs.
	Hold time.Duration
	// Blink is how long each LED is lit in turn during held.
	Blink time.Duration
	// LongBeep is held's beep.
	LongBeep time.Duration
	// Clock paces the patterns; nil means the system clock.
	Clock clock.Clock
	// Logger receives pin errors while a pattern plays (Show has no way to
	// return them) and unknown verdicts; nil discards.
	Logger *slog.Logger
}

// DefaultOpts: LEDs lit 2 s, relay 500 ms, 100 ms beeps 100 ms apart, held
// alternating every 250 ms for 3 s with a 1 s beep.
var DefaultOpts = Opts{
	Light:    2 * time.Second,
	Relay:    500 * time.Millisecond,
	Beep:     100 * time.Millisecond,
	BeepGap:  100 * time.Millisecond,
	Hold:     3 * time.Second,
	Blink:    250 * time.Millisecond,
	LongBeep: time.Second,
}

// Dev drives a gate's outputs. Its methods may be called concurrently.
type Dev struct {
	pins     Pins
	clk      clock.Clock
	log      *slog.Logger
	patterns map[string]*pattern

	mu   sync.Mutex
	next *pattern      // to play next; nil when none waits
	gen  uint64        // counts the patterns started
	kick chan struct{} // holds a token exactly when next is set

	stop     chan struct{} // closed by Halt
	stopOnce sync.Once
	done     chan struct{} // closed when run returns
	haltErr  error         // from the last pins low; read after done
}

var (
	_ device.Signal = (*Dev)(nil)
	_ conn.Resource = (*Dev)(nil)
)

// New sets every fitted pin low and starts the goroutine that plays the
// patterns; Halt stops it. A nil opts means DefaultOpts.
func New(pins Pins, opts *Opts) (*Dev, error) {
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"Light", o.Light}, {"Relay", o.Relay}, {"Beep", o.Beep}, {"BeepGap", o.BeepGap},
		{"Hold", o.Hold}, {"Blink", o.Blink}, {"LongBeep", o.LongBeep},
	} {
		if f.d <= 0 {
			return nil, fmt.Errorf("gpiosignal: %s %v must be positive", f.name, f.d)
		}
	}
	if pins == (Pins{}) {
		return nil, errors.New("gpiosignal: no output fitted")
	}
	d := &Dev{
		pins: pins,
		clk:  clock.Or(o.Clock),
		patterns: map[string]*pattern{
			Admitted: admitted(pins, &o),
			Rejected: rejected(pins, &o),
			Held:     held(pins, &o),
		},
		kick: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	d.log = o.Logger
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.log = d.log.With("dev", d.String())
	if err := d.off(); err != nil {
		return nil, fmt.Errorf("gpiosignal: set outputs low: %w", err)
	}
	go d.run()
	return d, nil
}

// String says what the outputs are, e.g.
// gpiosignal{green:GPIO17 red:GPIO27 relay:GPIO22}; an output not fitted
// is left out.
func (d *Dev) String() string {
	var b strings.Builder
	b.WriteString("gpiosignal{")
	sep := ""
	for o, pin := range d.pins.all() {
		if pin != nil {
			fmt.Fprintf(&b, "%s%s:%s", sep, Output(o), pin.Name())
			sep = " "
		}
	}
	b.WriteString("}")
	return b.String()
}

// Show starts the pattern for verdict (Admitted, Rejected or Held) and
// returns at once. The pattern replaces the one under way; an unknown
// verdict is logged and changes nothing. After Halt, Show does nothing.
func (d *Dev) Show(verdict string) {
	p, ok := d.patterns[verdict]
	if !ok {
		d.log.Warn("unknown verdict not shown", "verdict", verdict)
		return
	}
	d.start(p)
}

// Pulse drives output o high for dur, then low, and returns when it is low
// again: for the hardware doctor to check each output in turn. Like a
// verdict, it replaces the pattern under way, and a verdict shown meanwhile
// ends it early with ErrPreempted. It returns the pin's error, ErrNotFitted,
// ErrHalted, or ctx's error once the pin is low again.
func (d *Dev) Pulse(ctx context.Context, o Output, dur time.Duration) error {
	pin := d.pins.pin(o)
	if pin == nil {
		return fmt.Errorf("gpiosignal: pulse %s: %w", o, ErrNotFitted)
	}
	if dur <= 0 {
		return fmt.Errorf("gpiosignal: pulse %s: duration %v must be positive", o, dur)
	}
	p := pulse(o, pin, dur)
	gen := d.start(p)
	select {
	case err := <-p.done:
		if err != nil {
			return fmt.Errorf("gpiosignal: pulse %s: %w", o, err)
		}
		return nil
	case <-d.done:
		return fmt.Errorf("gpiosignal: pulse %s: %w", o, ErrHalted)
	case <-ctx.Done():
	}
	// Still the latest? Then end it with a pattern that only sets every
	// pin low, and wait for that.
	d.mu.Lock()
	if d.gen == gen {
		d.startLocked(&pattern{name: "off"})
	}
	d.mu.Unlock()
	select {
	case <-p.done:
	case <-d.done:
	}
	return fmt.Errorf("gpiosignal: pulse %s: %w", o, ctx.Err())
}

// Halt ends the pattern under way, sets every output low and stops the
// goroutine. It returns the errors of setting the pins low; calling it
// again returns the same.
func (d *Dev) Halt() error {
	d.stopOnce.Do(func() { close(d.stop) })
	<-d.done
	if d.haltErr != nil {
		return fmt.Errorf("gpiosignal: halt: %w", d.haltErr)
	}
	return nil
}

// start makes p the next pattern and wakes the goroutine. A pattern still
// waiting is dropped, and told so. It returns p's generation.
func (d *Dev) start(p *pattern) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.startLocked(p)
}

func (d *Dev) startLocked(p *pattern) uint64 {
	if d.next != nil {
		finish(d.next, ErrPreempted)
	}
	d.next = p
	d.gen++
	select {
	case d.kick <- struct{}{}:
	default: // a token is already there
	}
	return d.gen
}

// take returns the next pattern and clears it, with its token.
func (d *Dev) take() *pattern {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.next
	d.next = nil
	select {
	case <-d.kick:
	default:
	}
	return p
}

// run plays patterns until Halt.
func (d *Dev) run() {
	defer close(d.done)
	for {
		select {
		case <-d.stop:
			d.haltErr = d.off()
			return
		case <-d.kick:
		}
		for p := d.take(); p != nil; {
			preempted, stopped, err := d.play(p)
			switch {
			case stopped:
				finish(p, ErrHalted)
				d.haltErr = d.off()
				return
			case preempted:
				finish(p, ErrPreempted)
				p = d.take()
			default:
				if p.done == nil && err != nil {
					d.log.Warn("pattern failed", "verdict", p.name, "err", err)
				}
				finish(p, err)
				p = nil
			}
		}
	}
}

// play sets every pin low, then plays p's events at their times. It stops
// early when another pattern starts or Halt is called, and returns the
// first pin error (unprefixed: Pulse and the log add the context).
func (d *Dev) play(p *pattern) (preempted, stopped bool, err error) {
	err = d.off()
	var at time.Duration
	for _, e := range p.events {
		if e.at > at {
			select {
			case <-d.clk.After(e.at - at):
			case <-d.kick:
				return true, false, err
			case <-d.stop:
				return false, true, err
			}
			at = e.at
		}
		if perr := e.pin.Out(e.level); perr != nil && err == nil {
			err = fmt.Errorf("%s %s: %w", e.pin.Name(), e.level, perr)
		}
	}
	return false, false, err
}

// off sets every fitted pin low and returns the errors, unprefixed.
func (d *Dev) off() error {
	var errs []error
	for o, pin := range d.pins.all() {
		if pin == nil {
			continue
		}
		if err := pin.Out(gpio.Low); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s) low: %w", Output(o), pin.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// finish reports err to whoever waits on p.
func finish(p *pattern, err error) {
	if p.done != nil {
		p.done <- err
	}
}
