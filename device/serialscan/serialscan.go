// Package serialscan reads QR and barcode scanners that send each code as a
// line over a serial or USB-CDC port: Newland, Honeywell and Zebra imagers in
// their serial (or "USB COM port emulation") mode.
//
// Such a scanner sends the decoded data, optionally preceded by an AIM
// symbology identifier (AIM ISS "Symbology Identifiers", e.g. "]Q1" for QR
// Code) and followed by a programmable suffix: CR, LF, CR LF or nothing.
// See for example the Honeywell Xenon/Granit user guides, "Prefix/Suffix
// Overview" and "Symbology Identifiers":
// https://prod-edam.honeywell.com/content/dam/honeywell-edam/sps/ppr/en-us/public/products/barcode-scanners/general-purpose-handheld/1950g/documents/sps-ppr-gr-xe-ug.pdf
//
// The driver reads from a port it does not own (see device/serialport),
// keeps at most Opts.MaxLen bytes of a code, and reports a line with control
// bytes or invalid UTF-8 as device.ErrUnreadable.
package serialscan

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"venuebox/device"
	"venuebox/device/clock"
	"venuebox/device/internal/portio"
)

// Opts configures a scanner.
type Opts struct {
	// Suffix is the terminator the scanner is programmed to send.
	Suffix Suffix
	// Gap ends a code after this much silence when Suffix is SuffixNone. A
	// serialport.Port notices silence only every read timeout (0.1 s at best).
	Gap time.Duration
	// Stale drops a partial code whose terminator has not come after this
	// much silence, reporting it as unreadable.
	Stale time.Duration
	// MaxLen is the longest code accepted, in bytes, AIM prefix included.
	MaxLen int
	// StripAIM removes an AIM symbology identifier at the start of a code.
	StripAIM bool
	// Clock measures silence; nil means the system clock.
	Clock clock.Clock
	// Logger receives what the driver rejects; nil discards.
	Logger *slog.Logger
}

// DefaultOpts is a CR suffix, 1024 bytes, AIM prefixes stripped.
var DefaultOpts = Opts{
	Suffix:   SuffixCR,
	Gap:      50 * time.Millisecond,
	Stale:    time.Second,
	MaxLen:   1024,
	StripAIM: true,
}

// Dev is a line-oriented scanner on a port.
type Dev struct {
	r    io.Reader
	name string
	o    Opts
	clk  clock.Clock
	log  *slog.Logger

	f       *framer
	rb      []byte
	pending []byte
	last    time.Time // when the last byte arrived
}

var _ device.Scanner = (*Dev)(nil)

// New returns a scanner reading from r. A nil opts means DefaultOpts.
func New(r io.Reader, opts *Opts) (*Dev, error) {
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if o.MaxLen <= 0 {
		return nil, fmt.Errorf("serialscan: MaxLen %d must be positive", o.MaxLen)
	}
	if o.Suffix < SuffixCR || o.Suffix > SuffixNone {
		return nil, fmt.Errorf("serialscan: bad suffix %v", o.Suffix)
	}
	if o.Gap <= 0 {
		o.Gap = DefaultOpts.Gap
	}
	if o.Stale <= 0 {
		o.Stale = DefaultOpts.Stale
	}
	d := &Dev{
		r:    r,
		name: portio.Name(r, "port"),
		o:    o,
		clk:  clock.Or(o.Clock),
		f:    newFramer(o.Suffix, o.MaxLen, o.StripAIM),
		rb:   make([]byte, 256),
	}
	d.log = o.Logger
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.log = d.log.With("dev", d.String())
	return d, nil
}

// Scan returns the next code. A line that cannot be a code comes back with
// an error wrapping device.ErrUnreadable; any other error means the port is
// gone (or ctx ended) and the scanner must be reopened.
func (d *Dev) Scan(ctx context.Context) (string, error) {
	for {
		if len(d.pending) > 0 {
			n, code, done, err := d.f.feed(d.pending)
			d.pending = d.pending[n:]
			if done {
				return d.result(code, err)
			}
			continue
		}
		n, err := portio.Read(ctx, d.r, d.rb)
		if n > 0 {
			d.pending = d.rb[:n]
			d.last = d.clk.Now()
			continue
		}
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			// Checked before IsTimeout: whatever the read said, the caller
			// is gone, and a port timeout would otherwise loop back here.
			return "", ctx.Err()
		}
		if !portio.IsTimeout(err) {
			return "", fmt.Errorf("serialscan: read %s: %w", d.name, err)
		}
		if !d.f.pending() {
			continue
		}
		quiet := d.clk.Now().Sub(d.last)
		switch {
		case d.o.Suffix == SuffixNone && quiet >= d.o.Gap:
			code, err := d.f.end()
			if code == "" && err == nil {
				continue // the tail of an overlong code
			}
			return d.result(code, err)
		case d.o.Suffix != SuffixNone && quiet >= d.o.Stale:
			if err := d.f.drop(); err != nil {
				return d.result("", err)
			}
		}
	}
}

func (d *Dev) result(code string, err error) (string, error) {
	if err != nil {
		d.log.Info("unreadable scan", "err", err)
	}
	return code, err
}

// String says what and where: serialscan{/dev/ttyACM0}.
func (d *Dev) String() string { return "serialscan{" + d.name + "}" }

// Halt drops any partial code. The scanner has nothing to switch off.
func (d *Dev) Halt() error {
	d.pending = nil
	d.f.buf, d.f.overflow = d.f.buf[:0], false
	return nil
}
