// Package camera reads QR codes from a camera: a gate without a 2D scan
// engine, or a second way in beside one.
//
// The camera is a command writing MJPEG to its standard output, concatenated
// JPEG frames: rpicam-vid on a Raspberry Pi
// (https://www.raspberrypi.com/documentation/computers/camera_software.html#rpicam-vid,
// "rpicam-vid -t 0 -n --codec mjpeg --width 640 --height 480 --framerate 15 -o -")
// or ffmpeg on a USB camera ("ffmpeg -f v4l2 -input_format mjpeg -i /dev/video0
// -c copy -f mjpeg -"). The stream is cut into frames by the JPEG marker
// structure (ITU-T T.81, annex B: https://www.w3.org/Graphics/JPEG/itu-t81.pdf),
// resynchronising on the next SOI after garbage and dropping frames larger
// than Opts.MaxFrame. Each frame is decoded with image/jpeg and searched for
// a QR code with gozxing (https://github.com/makiuchi-d/gozxing), working on
// the luma plane in place: no RGBA conversion, which the baselines measured
// at a third to two thirds of gozxing's time. Only Opts.ROI, by default the
// centre of the frame, is searched (a code held outside it is not seen: the
// kiosk should show where to hold it), and the binarizer, ZXing's hybrid one
// recomputed bit for bit, reuses its buffers from frame to frame.
//
// scripts/bench-camera measures this path against zxing-cpp. On a 640x480
// frame, decoding the JPEG costs several times what finding the code does,
// and image/jpeg allocates each frame anew: the frame rate and size set on
// the command are what bound the CPU a camera takes.
//
// A camera sees the same code in every frame while it is held up, so Scan
// reports a text once, and again only after it has been out of sight for
// Opts.Gap. A text that cannot be a code (too long, control characters,
// invalid UTF-8) is reported once as device.ErrUnreadable.
//
// New reads frames from any reader (a pipe in tests); Start runs the camera
// command, on a Unix system, and stops it on Halt.
package camera

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"venuebox/device"
	"venuebox/device/clock"
	"venuebox/device/internal/portio"
)

// Opts configures a camera scanner. A zero field takes DefaultOpts' value.
type Opts struct {
	// ROI is the part of each frame searched for a code.
	ROI Region
	// Gap is how long a code must have been out of sight before it is
	// reported again.
	Gap time.Duration
	// MaxFrame is the largest JPEG frame read, in bytes; larger ones are
	// dropped. A 1280x720 MJPEG frame is 50 to 200 KiB.
	MaxFrame int
	// MaxSide is the largest frame width or height decoded, in pixels.
	MaxSide int
	// MaxLen is the longest code accepted, in bytes.
	MaxLen int
	// Clock times the gap; nil means the system clock.
	Clock clock.Clock
	// Logger receives what the driver drops; nil discards.
	Logger *slog.Logger
}

// DefaultOpts searches the central 60% x 80% of each frame (384x384 pixels
// of a 640x480 frame) and reports a code again after 2 s out of sight.
var DefaultOpts = Opts{
	ROI:      Region{X0: 0.2, Y0: 0.1, X1: 0.8, Y1: 0.9},
	Gap:      2 * time.Second,
	MaxFrame: 1 << 20,
	MaxSide:  4096,
	MaxLen:   1024,
}

// Dev is a camera scanner on an MJPEG stream.
type Dev struct {
	r    io.Reader
	name string
	o    Opts
	clk  clock.Clock
	log  *slog.Logger

	f       *framer
	qr      *qrDecoder
	seen    recent
	rb      []byte
	pending []byte
	proc    *process // the command Start ran, if any
}

var _ device.Scanner = (*Dev)(nil)

// New returns a scanner of the MJPEG stream in r. A nil opts means
// DefaultOpts.
func New(r io.Reader, opts *Opts) (*Dev, error) {
	return newDev(r, portio.Name(r, "stream"), opts)
}

func newDev(r io.Reader, name string, opts *Opts) (*Dev, error) {
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if o.ROI == (Region{}) {
		o.ROI = DefaultOpts.ROI
	}
	if !o.ROI.valid() {
		return nil, fmt.Errorf("camera: region of interest %+v is not inside the frame", o.ROI)
	}
	if o.Gap < 0 || o.MaxFrame < 0 || o.MaxSide < 0 || o.MaxLen < 0 {
		return nil, fmt.Errorf("camera: Gap %v, MaxFrame %d, MaxSide %d and MaxLen %d must not be negative", o.Gap, o.MaxFrame, o.MaxSide, o.MaxLen)
	}
	o.Gap = cmp.Or(o.Gap, DefaultOpts.Gap)
	o.MaxFrame = cmp.Or(o.MaxFrame, DefaultOpts.MaxFrame)
	o.MaxSide = cmp.Or(o.MaxSide, DefaultOpts.MaxSide)
	o.MaxLen = cmp.Or(o.MaxLen, DefaultOpts.MaxLen)
	d := &Dev{
		r:    r,
		name: name,
		o:    o,
		clk:  clock.Or(o.Clock),
		f:    newFramer(o.MaxFrame),
		qr:   newQRDecoder(o.ROI),
		seen: recent{gap: o.Gap},
		rb:   make([]byte, 64<<10),
	}
	d.log = o.Logger
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.log = d.log.With("dev", d.String())
	return d, nil
}

// Scan returns the next code shown to the camera. A text that cannot be a
// code comes back with an error wrapping device.ErrUnreadable; any other
// error means the stream has ended (the camera is gone) or ctx ended.
// Frames that are not JPEG, too large or without a code are skipped.
func (d *Dev) Scan(ctx context.Context) (string, error) {
	for {
		if len(d.pending) > 0 {
			n, found := d.f.feed(d.pending)
			d.pending = d.pending[n:]
			switch found {
			case foundFrame:
				if code, ok, err := d.frame(d.f.frame()); ok {
					return code, err
				}
			case foundOversized:
				d.log.Warn("frame dropped", "reason", fmt.Sprintf("larger than %d bytes", d.o.MaxFrame))
			}
			continue
		}
		n, err := portio.Read(ctx, d.r, d.rb)
		if n > 0 {
			d.pending = d.rb[:n]
			continue
		}
		switch {
		case err == nil || portio.IsTimeout(err) && ctx.Err() == nil:
			continue
		case ctx.Err() != nil:
			return "", ctx.Err()
		case d.proc != nil:
			return "", fmt.Errorf("camera: read %s: %w%s", d.name, err, d.proc.exit(ctx, d.clk))
		}
		return "", fmt.Errorf("camera: read %s: %w", d.name, err)
	}
}

// frame decodes one frame and says whether it is to be reported.
func (d *Dev) frame(b []byte) (code string, report bool, err error) {
	pix, stride, w, h, err := luma(b, d.o.MaxSide)
	if err != nil {
		d.log.Debug("frame dropped", "err", err)
		return "", false, nil
	}
	text, err := d.qr.decode(pix, stride, w, h)
	if err != nil {
		return "", false, nil
	}
	if !d.seen.show(text, d.clk.Now()) {
		return "", false, nil
	}
	if err := validate(text, d.o.MaxLen); err != nil {
		d.log.Info("unreadable code", "err", err)
		return "", true, err
	}
	return text, true, nil
}

// validate rejects what cannot be a code: too long, invalid UTF-8, control
// characters. The error does not quote the text: a code is a secret.
func validate(s string, maxLen int) error {
	switch {
	case s == "":
		return fmt.Errorf("camera: empty code: %w", device.ErrUnreadable)
	case len(s) > maxLen:
		return fmt.Errorf("camera: code of %d bytes, more than %d: %w", len(s), maxLen, device.ErrUnreadable)
	case !utf8.ValidString(s):
		return fmt.Errorf("camera: code is not UTF-8: %w", device.ErrUnreadable)
	}
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		return fmt.Errorf("camera: control character at byte %d: %w", i, device.ErrUnreadable)
	}
	return nil
}

// recent remembers the codes seen lately, so that a code held up to the
// camera is reported once and not once a frame.
type recent struct {
	gap   time.Duration
	codes []sighting
}

type sighting struct {
	text string
	last time.Time
}

// maxRecent bounds the memory: more codes than this in sight within one gap
// are not a queue at a gate.
const maxRecent = 8

// show records that text was seen at now and reports whether it is news:
// not seen within the gap before.
func (r *recent) show(text string, now time.Time) bool {
	oldest := 0
	for i := range r.codes {
		c := &r.codes[i]
		if c.text == text {
			news := now.Sub(c.last) >= r.gap
			c.last = now
			return news
		}
		if c.last.Before(r.codes[oldest].last) {
			oldest = i
		}
	}
	if len(r.codes) < maxRecent {
		r.codes = append(r.codes, sighting{text, now})
	} else {
		r.codes[oldest] = sighting{text, now}
	}
	return true
}

// String says what and where: camera{rpicam-vid} or camera{|0}.
func (d *Dev) String() string { return "camera{" + d.name + "}" }

// Halt stops the command Start ran: the camera is off. A Dev from New
// reads a stream it does not own and has nothing to stop. Halt may be called
// while Scan runs, which then returns an error.
func (d *Dev) Halt() error {
	if d.proc == nil {
		return nil
	}
	return d.proc.stop()
}
