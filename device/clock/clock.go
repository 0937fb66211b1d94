// Package clock is the time source the device drivers wait on and compare
// with. The drivers take a Clock in their Opts so that debounce, polling
// pace and backoff can be tested without sleeping; a nil Clock means Real.
package clock

import "time"

// A Clock tells the time and wakes a waiter after a delay.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

// Real is the system clock.
var Real Clock = realClock{}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Or returns c, or Real when c is nil.
func Or(c Clock) Clock {
	if c == nil {
		return Real
	}
	return c
}
