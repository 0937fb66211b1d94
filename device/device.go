// Package device holds the small interfaces the box application uses to talk to
// the hardware at a gate. Each kind of device has its own package below this one
// (serialscan, evdev, camera, pn532, rdm6300, mlx90614, gpiosignal, sim); each
// takes a bus, a port or a reader it does not own, and says what it is through
// String.
package device

import (
	"context"
	"errors"
	"fmt"
)

// A Scanner delivers decoded codes, one per scan, from a QR or barcode reader.
type Scanner interface {
	// Scan blocks until the next code arrives or ctx ends. A code the device
	// delivered but that cannot be a ticket (control bytes, invalid UTF-8, too
	// long) is returned with an error wrapping ErrUnreadable, so the gate can
	// record an "unreadable" verdict. Any other error means the device is gone.
	Scan(ctx context.Context) (string, error)
	fmt.Stringer
}

// A CardReader delivers the UID of each card tapped, once per tap.
type CardReader interface {
	// ReadCard blocks until a card is presented or ctx ends and returns its
	// UID as upper-case hex.
	ReadCard(ctx context.Context) (string, error)
	fmt.Stringer
}

// A Thermometer measures the skin temperature of the person in front of it.
type Thermometer interface {
	// Temperature returns the estimated body temperature in degrees Celsius.
	Temperature(ctx context.Context) (float64, error)
	fmt.Stringer
}

// A Signal shows a verdict to the person at the gate: lights, buzzer, relay.
type Signal interface {
	// Show starts the pattern for the verdict ("admitted", "rejected",
	// "held") and returns at once; it never blocks the decision path.
	Show(verdict string)
	fmt.Stringer
}

// ErrUnreadable marks input a device read but that cannot be a code.
var ErrUnreadable = errors.New("device: unreadable input")
