// Package serialport opens the serial ports the gate's scanners and card
// readers hang on (/dev/ttyACM*, /dev/ttyUSB*, /dev/ttyAMA0, /dev/serial/by-id/*)
// with github.com/tarm/serial, and gives their reads the two meanings a
// driver needs to tell apart:
//
//   - no byte arrived within the read timeout: the read returns ErrTimeout,
//     which wraps os.ErrDeadlineExceeded (tarm/serial itself returns
//     (0, io.EOF) for this on Linux, which is not an end of file);
//   - the device was unplugged: the kernel hangs the tty up and every read
//     returns at once with nothing; the read then returns ErrHangup.
//
// This is the one place that opens a serial /dev node; drivers take the
// returned *Port as an io.ReadWriter and never close it.
package serialport

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tarm/serial"

	"venuebox/device/clock"
)

// ErrTimeout is returned by Read when no byte arrived within the read timeout.
// errors.Is(ErrTimeout, os.ErrDeadlineExceeded) holds, as for a file deadline.
var ErrTimeout = fmt.Errorf("serialport: read timeout: %w", os.ErrDeadlineExceeded)

// ErrHangup is returned by Read once the device has gone away (unplugged,
// or the far end of a pseudo-terminal closed). The port must be reopened.
var ErrHangup = errors.New("serialport: device hung up")

// Opts configures a port.
type Opts struct {
	// Baud is the line speed; 8 data bits, no parity, 1 stop bit.
	Baud int
	// ReadTimeout bounds each Read, so read loops can observe cancellation.
	// The kernel counts it in tenths of a second, between 0.1 s and 25.5 s.
	ReadTimeout time.Duration
	// Clock measures how long an empty read took; nil means the system clock.
	Clock clock.Clock
}

// DefaultOpts is 115200 baud with a 100 ms read timeout.
var DefaultOpts = Opts{Baud: 115200, ReadTimeout: 100 * time.Millisecond}

// hangupReads is how many empty reads in a row, each returning well before
// the read timeout, mean the tty was hung up.
const hangupReads = 3

// Port is an open serial port.
type Port struct {
	name    string
	p       *serial.Port
	timeout time.Duration
	clk     clock.Clock
	fast    int
}

// Open opens and configures the serial port at name. A nil opts means
// DefaultOpts.
func Open(name string, opts *Opts) (*Port, error) {
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if o.Baud == 0 {
		o.Baud = DefaultOpts.Baud
	}
	if o.ReadTimeout < 100*time.Millisecond {
		o.ReadTimeout = 100 * time.Millisecond
	}
	p, err := serial.OpenPort(&serial.Config{Name: name, Baud: o.Baud, ReadTimeout: o.ReadTimeout})
	if err != nil {
		return nil, fmt.Errorf("serialport: open %s: %w", name, err)
	}
	return &Port{name: name, p: p, timeout: o.ReadTimeout, clk: clock.Or(o.Clock)}, nil
}

// Read reads what has arrived, waiting at most the read timeout. It returns
// ErrTimeout when nothing came and an error wrapping ErrHangup once the
// device is gone.
func (p *Port) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	start := p.clk.Now()
	n, err := p.p.Read(b)
	if n > 0 {
		p.fast = 0
		return n, nil
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("serialport: read %s: %w", p.name, err)
	}
	if p.clk.Now().Sub(start) < p.timeout/2 {
		p.fast++
		if p.fast >= hangupReads {
			return 0, fmt.Errorf("serialport: read %s: %w", p.name, ErrHangup)
		}
		return 0, ErrTimeout
	}
	p.fast = 0
	return 0, ErrTimeout
}

// Write writes b to the port.
func (p *Port) Write(b []byte) (int, error) {
	n, err := p.p.Write(b)
	if err != nil {
		return n, fmt.Errorf("serialport: write %s: %w", p.name, err)
	}
	return n, nil
}

// Flush discards bytes received but not read and bytes written but not sent.
func (p *Port) Flush() error {
	if err := p.p.Flush(); err != nil {
		return fmt.Errorf("serialport: flush %s: %w", p.name, err)
	}
	return nil
}

// Close closes the port. A Read in progress returns within the read timeout.
func (p *Port) Close() error {
	if err := p.p.Close(); err != nil {
		return fmt.Errorf("serialport: close %s: %w", p.name, err)
	}
	return nil
}

// String returns the port's device name.
func (p *Port) String() string { return p.name }
