// Package sim holds simulated devices for the demo and for tests: a scanner
// and a card reader that deliver what they are fed, a thermometer that reads
// what it is set to, and a signal that remembers what it showed.
package sim

import (
	"context"
	"fmt"
	"sync"

	"venuebox/device"
)

// Scanner delivers the codes fed to it, in order.
type Scanner struct {
	name  string
	codes chan string
}

// NewScanner returns a scanner named name with room for 64 waiting codes.
func NewScanner(name string) *Scanner {
	return &Scanner{name: name, codes: make(chan string, 64)}
}

// Feed queues a code as if it were scanned; it blocks while 64 wait.
func (s *Scanner) Feed(ctx context.Context, code string) error {
	select {
	case s.codes <- code:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Scan returns the next code fed, or ctx's error.
func (s *Scanner) Scan(ctx context.Context) (string, error) {
	select {
	case c := <-s.codes:
		return c, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// ReadCard returns the next UID fed: a Scanner is also a card reader.
func (s *Scanner) ReadCard(ctx context.Context) (string, error) { return s.Scan(ctx) }

// String names the device.
func (s *Scanner) String() string { return "sim{" + s.name + "}" }

// Thermometer reads the temperature it was last set to.
type Thermometer struct {
	mu sync.Mutex
	c  float64
}

// NewThermometer returns a thermometer reading c.
func NewThermometer(c float64) *Thermometer { return &Thermometer{c: c} }

// Set sets the next readings.
func (t *Thermometer) Set(c float64) {
	t.mu.Lock()
	t.c = c
	t.mu.Unlock()
}

// Temperature returns the set temperature.
func (t *Thermometer) Temperature(ctx context.Context) (float64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.c, nil
}

// String names the device.
func (t *Thermometer) String() string { return fmt.Sprintf("sim{thermo %.1f°C}", t.c) }

// Signal remembers the verdicts shown.
type Signal struct {
	mu    sync.Mutex
	shown []string
}

// Show records the verdict.
func (s *Signal) Show(verdict string) {
	s.mu.Lock()
	s.shown = append(s.shown, verdict)
	s.mu.Unlock()
}

// Shown returns the verdicts shown so far.
func (s *Signal) Shown() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.shown...)
}

// String names the device.
func (s *Signal) String() string { return "sim{signal}" }

var (
	_ device.Scanner     = (*Scanner)(nil)
	_ device.CardReader  = (*Scanner)(nil)
	_ device.Thermometer = (*Thermometer)(nil)
	_ device.Signal      = (*Signal)(nil)
)
