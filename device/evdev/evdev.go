// Package evdev reads USB-HID barcode, QR and card readers that "type" what
// they read, as a keyboard would, through the Linux input event interface
// (/dev/input/event*).
//
// Most handheld and desk scanners, and many 125 kHz / 13.56 MHz card readers,
// ship in keyboard-wedge mode: each code arrives as key presses ending with
// Enter. Reading them through a terminal would let the keystrokes reach
// whatever has focus, the kiosk browser included; reading the evdev node
// instead, grabbed with EVIOCGRAB (see Open), keeps them away from every
// other reader of the device.
//
// The driver parses the kernel's struct input_event (include/uapi/linux/input.h,
// https://www.kernel.org/doc/html/latest/input/input.html#event-interface)
// and key codes (include/uapi/linux/input-event-codes.h), mapped through a US
// keyboard layout with shift and caps lock: program the scanner for a US
// keyboard and an Enter suffix. Only presses type; releases and the kernel's
// autorepeats are ignored. A key with no character, a character typed with
// ctrl, alt or meta held, events the kernel dropped (SYN_DROPPED) or more than
// Opts.MaxLen characters make the code unreadable (device.ErrUnreadable).
//
// New takes any io.Reader (an evdev node from Open, or a pipe in tests); the
// driver does not own it. The event size follows the program's word size
// (Opts.EventSize): 24 bytes for a 64-bit program, 16 for a 32-bit one.
package evdev

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"venuebox/device"
	"venuebox/device/clock"
	"venuebox/device/internal/portio"
)

// UIDFormat says how a card reader types a card's UID.
type UIDFormat int

// The UID formats keyboard-wedge card readers are sold with.
const (
	// UIDHex is a UID typed as hex digits ("04A1B2C3", separators ' ', ':'
	// and '-' allowed): ReadCard returns it in upper case.
	UIDHex UIDFormat = iota
	// UIDDecimal is a UID typed as one decimal number (the common 10-digit
	// "0012345678" output of 4-byte-UID readers). ReadCard returns the
	// number in hex, at least 8 digits, big-endian. Which byte order a
	// reader uses varies by model: if its UIDs do not match what an NFC
	// reader reports for the same card, program it for hex output instead.
	UIDDecimal
)

var uidFormatNames = [...]string{"hex", "decimal"}

// String returns the format's configuration name: hex or decimal.
func (f UIDFormat) String() string {
	if f < 0 || int(f) >= len(uidFormatNames) {
		return "UIDFormat(" + strconv.Itoa(int(f)) + ")"
	}
	return uidFormatNames[f]
}

// Opts configures a reader.
type Opts struct {
	// EventSize is the size in bytes of struct input_event as the kernel
	// writes it to this program: EventSize64 or EventSize32; 0 means
	// NativeEventSize, which is right unless the bytes come from elsewhere.
	EventSize int
	// MaxLen is the longest code accepted, in characters.
	MaxLen int
	// Stale drops a partial code whose Enter has not come after this much
	// silence, reporting it as unreadable. It is noticed only when the
	// reader takes read deadlines (an evdev node or a pipe does).
	Stale time.Duration
	// UID is how a card reader types UIDs, for ReadCard.
	UID UIDFormat
	// Clock measures silence; nil means the system clock.
	Clock clock.Clock
	// Logger receives what the driver rejects; nil discards.
	Logger *slog.Logger
}

// DefaultOpts reads native events, codes of up to 1024 characters, hex UIDs.
var DefaultOpts = Opts{
	MaxLen: 1024,
	Stale:  time.Second,
	UID:    UIDHex,
}

// Dev is a keyboard-wedge scanner or card reader on an event stream.
type Dev struct {
	r    io.Reader
	name string
	o    Opts
	clk  clock.Clock
	log  *slog.Logger

	s       *stream
	rb      []byte
	pending []byte
	last    time.Time // when the last byte arrived
}

var (
	_ device.Scanner    = (*Dev)(nil)
	_ device.CardReader = (*Dev)(nil)
)

// New returns a reader of the events in r. A nil opts means DefaultOpts.
func New(r io.Reader, opts *Opts) (*Dev, error) {
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if o.EventSize == 0 {
		o.EventSize = NativeEventSize
	}
	if o.EventSize != EventSize64 && o.EventSize != EventSize32 {
		return nil, fmt.Errorf("evdev: EventSize %d must be %d or %d", o.EventSize, EventSize64, EventSize32)
	}
	if o.MaxLen <= 0 {
		return nil, fmt.Errorf("evdev: MaxLen %d must be positive", o.MaxLen)
	}
	if o.UID != UIDHex && o.UID != UIDDecimal {
		return nil, fmt.Errorf("evdev: bad UID format %v", o.UID)
	}
	if o.Stale <= 0 {
		o.Stale = DefaultOpts.Stale
	}
	d := &Dev{
		r:    r,
		name: portio.Name(r, "reader"),
		o:    o,
		clk:  clock.Or(o.Clock),
		s:    newStream(o.EventSize, o.MaxLen),
		rb:   make([]byte, 64*o.EventSize),
	}
	d.log = o.Logger
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.log = d.log.With("dev", d.String())
	return d, nil
}

// Scan returns the next code typed. A code that cannot be one comes back
// with an error wrapping device.ErrUnreadable; any other error means the
// device is gone (unplugged: ENODEV; or the stream ended) or ctx ended.
func (d *Dev) Scan(ctx context.Context) (string, error) {
	for {
		if len(d.pending) > 0 {
			n, code, done, err := d.s.feed(d.pending)
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
			return "", ctx.Err()
		}
		if !portio.IsTimeout(err) {
			if errors.Is(err, io.EOF) && d.s.n > 0 {
				err = fmt.Errorf("%d bytes of a %d-byte event: %w", d.s.n, d.s.size, io.ErrUnexpectedEOF)
			}
			return "", fmt.Errorf("evdev: read %s: %w", d.name, err)
		}
		if d.s.t.pending() && d.clk.Now().Sub(d.last) >= d.o.Stale {
			keys := d.s.t.keys
			d.s.t.reset()
			return d.result("", fmt.Errorf("evdev: %d keys without Enter for %v: %w", keys, d.o.Stale, device.ErrUnreadable))
		}
	}
}

// ReadCard returns the UID of the next card, in upper-case hex. A reading
// that is no UID in Opts.UID's format is unreadable (device.ErrUnreadable);
// the error does not quote it, since a UID is not logged in clear.
func (d *Dev) ReadCard(ctx context.Context) (string, error) {
	s, err := d.Scan(ctx)
	if err != nil {
		return "", err
	}
	uid, err := parseUID(s, d.o.UID)
	if err != nil {
		return d.result("", err)
	}
	return uid, nil
}

// maxUIDDigits is 10 bytes in hex, the longest ISO 14443 UID.
const maxUIDDigits = 20

// parseUID normalises a typed UID to upper-case hex.
func parseUID(s string, f UIDFormat) (string, error) {
	if f == UIDDecimal {
		if len(s) == 0 || len(s) > maxUIDDigits || strings.Trim(s, "0123456789") != "" {
			return "", fmt.Errorf("evdev: %d characters are no decimal UID: %w", len(s), device.ErrUnreadable)
		}
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return "", fmt.Errorf("evdev: decimal UID out of range: %w", device.ErrUnreadable)
		}
		h := strings.ToUpper(strconv.FormatUint(v, 16))
		if n := max(8, len(h)+len(h)%2); len(h) < n {
			h = strings.Repeat("0", n-len(h)) + h
		}
		return h, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == ':' || c == '-':
		case c >= '0' && c <= '9' || c >= 'A' && c <= 'F':
			b = append(b, c)
		case c >= 'a' && c <= 'f':
			b = append(b, c-'a'+'A')
		default:
			return "", fmt.Errorf("evdev: non-hex character at %d in a UID: %w", i, device.ErrUnreadable)
		}
	}
	if len(b) < 8 || len(b) > maxUIDDigits || len(b)%2 != 0 {
		return "", fmt.Errorf("evdev: UID of %d hex digits (want 8..%d, even): %w", len(b), maxUIDDigits, device.ErrUnreadable)
	}
	return string(b), nil
}

func (d *Dev) result(code string, err error) (string, error) {
	if err != nil {
		d.log.Info("unreadable scan", "err", err)
	}
	return code, err
}

// String says what and where: evdev{/dev/input/event3}.
func (d *Dev) String() string { return "evdev{" + d.name + "}" }

// releaser is what Open returns: an event node that can give up its grab.
type releaser interface {
	Release() error
}

// Halt drops any partial code and, when the reader is a grabbed node from
// Open, releases the grab. Call it once Scan has returned.
func (d *Dev) Halt() error {
	d.pending = nil
	d.s.reset()
	if r, ok := d.r.(releaser); ok {
		if err := r.Release(); err != nil {
			return fmt.Errorf("evdev: halt %s: %w", d.name, err)
		}
	}
	return nil
}
