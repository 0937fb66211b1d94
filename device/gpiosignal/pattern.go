package gpiosignal

import (
	"cmp"
	"slices"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// A pattern is what the outputs do for one verdict: pin changes at offsets
// from its start. Its last events turn everything it turned on off again.
type pattern struct {
	name   string
	events []event
	// done, when set, receives the outcome once: nil when the pattern ran
	// to its end, the first pin error, ErrPreempted or ErrHalted. Patterns
	// of Show have none; Pulse waits on its own.
	done chan error
}

// An event sets pin to level at offset at from the pattern's start.
type event struct {
	at    time.Duration
	pin   gpio.PinOut
	level gpio.Level
}

// builder collects the events of a pattern, leaving out pins not fitted.
type builder []event

func (b *builder) set(at time.Duration, pin gpio.PinOut, l gpio.Level) {
	if pin != nil {
		*b = append(*b, event{at, pin, l})
	}
}

// on sets pin high at from and low again at to.
func (b *builder) on(pin gpio.PinOut, from, to time.Duration) {
	b.set(from, pin, gpio.High)
	b.set(to, pin, gpio.Low)
}

// pattern returns the events in time order; events at the same offset stay
// in the order they were added.
func (b builder) pattern(name string) *pattern {
	slices.SortStableFunc(b, func(x, y event) int { return cmp.Compare(x.at, y.at) })
	return &pattern{name: name, events: b}
}

// admitted: green on, the relay pulsed to let one person through, one
// short beep.
func admitted(p Pins, o *Opts) *pattern {
	var b builder
	b.on(p.Green, 0, o.Light)
	b.on(p.Relay, 0, o.Relay)
	b.on(p.Buzzer, 0, o.Beep)
	return b.pattern(Admitted)
}

// rejected: red on, three short beeps.
func rejected(p Pins, o *Opts) *pattern {
	var b builder
	b.on(p.Red, 0, o.Light)
	for i := range 3 {
		at := time.Duration(i) * (o.Beep + o.BeepGap)
		b.on(p.Buzzer, at, at+o.Beep)
	}
	return b.pattern(Rejected)
}

// held: green and red in turn, so that staff look, and one long beep; the
// relay stays shut until staff decide.
func held(p Pins, o *Opts) *pattern {
	var b builder
	for i := 0; time.Duration(i)*o.Blink < o.Hold; i++ {
		lit, dark := p.Green, p.Red
		if i%2 == 1 {
			lit, dark = dark, lit
		}
		at := time.Duration(i) * o.Blink
		b.set(at, dark, gpio.Low)
		b.set(at, lit, gpio.High)
	}
	b.set(o.Hold, p.Green, gpio.Low)
	b.set(o.Hold, p.Red, gpio.Low)
	b.on(p.Buzzer, 0, o.LongBeep)
	return b.pattern(Held)
}

// pulse: one pin high for d.
func pulse(o Output, pin gpio.PinOut, d time.Duration) *pattern {
	var b builder
	b.on(pin, 0, d)
	p := b.pattern("pulse " + o.String())
	p.done = make(chan error, 1)
	return p
}
