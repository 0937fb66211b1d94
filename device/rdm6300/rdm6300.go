// Package rdm6300 reads 125 kHz EM4100 key fobs and cards with an RDM6300
// (or RDM630) module on a UART at 9600 baud, 8N1, the cheap reader some
// venues use for staff and member fobs.
//
// The module only talks: while a tag is in its field it sends the same
// 14-byte frame over and over, about every 50-65 ms: STX (0x02), ten ASCII
// hex digits (a version or customer byte and the 32-bit tag number), two
// ASCII hex digits of checksum (the XOR of the five data bytes), ETX
// (0x03). See the module's specification, "TTL interface RS232 data
// output format":
// https://wiki.seeedstudio.com/125Khz_RFID_module-UART/
//
// The UID reported is all ten digits, upper case ("62E3086CED"): the five
// bytes the tag holds. The number printed on a fob is usually the last
// eight digits read as a decimal number.
//
// The driver drops what is not a good frame (noise, a frame cut short, a
// bad checksum) and resynchronises on the next STX. Since the module never
// says a tag has gone, ReadCard tells a new tap from a repeat by time: the
// same tag counts again only after no frame of it has come for Opts.Gap. A
// different tag counts at once. Frames are timed as they are read, so a
// tag resting while nobody calls ReadCard for longer than Gap counts again.
package rdm6300

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"venuebox/device"
	"venuebox/device/clock"
	"venuebox/device/internal/portio"
)

// Opts configures a reader.
type Opts struct {
	// Gap is how long no frame of a tag must come before it counts as
	// tapped again; zero means DefaultOpts.Gap.
	Gap time.Duration
	// Clock times the frames; nil means the system clock.
	Clock clock.Clock
	// Logger receives the frames the driver drops; nil discards.
	Logger *slog.Logger
}

// DefaultOpts counts a tag again after a second without it.
var DefaultOpts = Opts{Gap: time.Second}

// Dev is an RDM6300 on a serial port. It is not safe for concurrent use.
type Dev struct {
	r    io.Reader
	name string
	clk  clock.Clock
	log  *slog.Logger

	buf  [4 * frameLen]byte
	b, e int // buf[b:e] is received and not parsed yet
	taps taps
}

var _ device.CardReader = (*Dev)(nil)

// New returns a reader on r, which it does not own. A nil opts means
// DefaultOpts.
func New(r io.Reader, opts *Opts) (*Dev, error) {
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if o.Gap < 0 {
		return nil, fmt.Errorf("rdm6300: Gap %v must not be negative", o.Gap)
	}
	if o.Gap == 0 {
		o.Gap = DefaultOpts.Gap
	}
	d := &Dev{r: r, name: portio.Name(r, "port"), clk: clock.Or(o.Clock), taps: taps{gap: o.Gap}}
	d.log = o.Logger
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.log = d.log.With("dev", d.String())
	return d, nil
}

// ReadCard blocks until a tag is tapped and returns its UID as ten
// upper-case hex digits. Any error but ctx's means the port is gone. UIDs
// identify members: the driver never logs them.
func (d *Dev) ReadCard(ctx context.Context) (string, error) {
	for {
		tag, n, err := parse(d.buf[d.b:d.e])
		d.b += n
		switch {
		case err == nil:
			if d.taps.see(tag, d.clk.Now()) {
				return uid(tag), nil
			}
			continue
		case !errors.Is(err, errShort):
			// Enabled first, so that noise costs no allocation per frame.
			if d.log.Enabled(ctx, slog.LevelDebug) {
				d.log.Debug("bad frame dropped", "err", err)
			}
			continue
		}
		// What is left is shorter than a frame, so there is room.
		d.e = copy(d.buf[:], d.buf[d.b:d.e])
		d.b = 0
		m, err := portio.Read(ctx, d.r, d.buf[d.e:])
		d.e += m
		if err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			if !portio.IsTimeout(err) {
				return "", fmt.Errorf("rdm6300: read %s: %w", d.name, err)
			}
		}
	}
}

// uid formats tag as ReadCard returns it. It takes a copy, so that only a
// tap, not every frame, costs an allocation.
func uid(tag [5]byte) string { return fmt.Sprintf("%X", tag[:]) }

// String says what and where: rdm6300{/dev/ttyS0}.
func (d *Dev) String() string { return "rdm6300{" + d.name + "}" }

// Halt drops a partial frame and forgets the tag last seen. The module has
// nothing to switch off: it reads whenever it has power.
func (d *Dev) Halt() error {
	d.b, d.e = 0, 0
	d.taps = taps{gap: d.taps.gap}
	return nil
}

// taps tells a tap from the frames that repeat it.
type taps struct {
	gap  time.Duration
	tag  [5]byte
	seen time.Time // when the last frame of tag came; zero before any
}

// see takes a frame of tag read at now and reports whether it is a new tap.
func (t *taps) see(tag [5]byte, now time.Time) bool {
	fresh := t.seen.IsZero() || tag != t.tag || now.Sub(t.seen) >= t.gap
	t.tag, t.seen = tag, now
	return fresh
}
