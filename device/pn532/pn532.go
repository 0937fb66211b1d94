// Package pn532 reads member cards (ISO/IEC 14443 type A: MIFARE Classic,
// Ultralight, NTAG, DESFire) with an NXP PN532 on a UART, the chip's HSU
// interface at 115200 baud, as on the common PN532 breakout boards wired
// to a Raspberry Pi's /dev/ttyAMA0.
//
// The protocol is the one in the NXP PN532 User Manual UM0701-02, §6.2
// (frames) and §7 (commands):
// https://www.nxp.com/docs/en/user-guide/141520.pdf
//
// The PN532 answers only when asked, so the driver polls: every
// Opts.Interval it sends InListPassiveTarget for one 106 kbps type A target
// and reads the UID (NFCID1) from the answer. A card resting on the reader
// answers every poll; ReadCard reports it once, and again only after it has
// been missing for Opts.Gap, so one tap is one check-in.
//
// Every byte from the line is treated as hostile: frames are checked
// against both checksums and a length cap, garbage is skipped up to the
// next start code, a damaged response is asked for again with a NACK (up to
// Opts.Retries times), and no read waits longer than the port's read
// timeout. A PN532 that stops answering, or a port that fails, makes the
// call return an error, and the application reopens the port.
package pn532

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"venuebox/device"
	"venuebox/device/clock"
	"venuebox/device/internal/portio"
)

// Errors a command can end with, besides the port's and ctx's. They come
// wrapped, as "pn532: InListPassiveTarget: no ACK within 200ms".
var (
	// ErrNoAck means the PN532 did not acknowledge a command in time: it
	// is unpowered, unwired, or not talking HSU at this speed.
	ErrNoAck = errors.New("no ACK")
	// ErrNoResponse means the PN532 acknowledged a command but did not
	// answer it in time.
	ErrNoResponse = errors.New("no response")
	// ErrSyntax means the PN532 answered with its error frame: it found
	// the command wrong at the application level (UM0701-02 §6.2.1.5).
	ErrSyntax = errors.New("error frame")
	// ErrCorrupt means the response stayed damaged after Opts.Retries
	// NACKs, or was well framed but made no sense.
	ErrCorrupt = errors.New("corrupt response")
)

// Command codes, UM0701-02 §7.
const (
	cmdGetFirmwareVersion  = 0x02
	cmdSAMConfiguration    = 0x14
	cmdPowerDown           = 0x16
	cmdRFConfiguration     = 0x32
	cmdInListPassiveTarget = 0x4A
)

var cmdNames = map[byte]string{
	cmdGetFirmwareVersion:  "GetFirmwareVersion",
	cmdSAMConfiguration:    "SAMConfiguration",
	cmdPowerDown:           "PowerDown",
	cmdRFConfiguration:     "RFConfiguration",
	cmdInListPassiveTarget: "InListPassiveTarget",
}

// Opts configures a reader. A zero field means its DefaultOpts value.
type Opts struct {
	// Interval is the pause between two polls for a card.
	Interval time.Duration
	// Gap is how long a card must be away before it counts as tapped
	// again.
	Gap time.Duration
	// AckTimeout bounds the wait for a command's ACK. A port bounds each
	// read itself (serialport: 0.1 s at best), so the wait can overrun by
	// one read timeout.
	AckTimeout time.Duration
	// ResponseTimeout bounds the wait for a command's response after its
	// ACK.
	ResponseTimeout time.Duration
	// Retries is how many times a damaged response is asked for again.
	Retries int
	// Clock paces polls and measures timeouts and gaps; nil means the
	// system clock.
	Clock clock.Clock
	// Logger receives what the driver discards; nil discards.
	Logger *slog.Logger
}

// DefaultOpts polls ten times a second and counts a card again after it
// has been away for a second.
var DefaultOpts = Opts{
	Interval:        100 * time.Millisecond,
	Gap:             time.Second,
	AckTimeout:      200 * time.Millisecond,
	ResponseTimeout: time.Second,
	Retries:         3,
}

// passiveRetries is MxRtyPassiveActivation: how many more times one
// InListPassiveTarget looks for a card before answering that there is
// none. The chip's default, 0xFF, waits for a card forever.
const passiveRetries = 0x02

// Dev is a PN532 on a serial port. It is not safe for concurrent use.
type Dev struct {
	rw   io.ReadWriter
	name string
	o    Opts
	clk  clock.Clock
	log  *slog.Logger

	awake bool   // the PN532 has had its wake-up since it last slept
	tx    []byte // the frame being sent
	buf   [2 * maxFrame]byte
	r, w  int // buf[r:w] is received and not parsed yet
	taps  taps
}

var _ device.CardReader = (*Dev)(nil)

// New wakes the PN532 on rw, which it does not own, and configures it:
// SAMConfiguration in normal mode (which also ends the low-battery mode the
// chip starts in) and a bounded number of passive activation retries, so
// that a poll with no card in the field answers at once. A nil opts means
// DefaultOpts. New fails if the PN532 does not answer within the timeouts.
func New(rw io.ReadWriter, opts *Opts) (*Dev, error) {
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if o.Interval < 0 || o.Gap < 0 || o.AckTimeout < 0 || o.ResponseTimeout < 0 || o.Retries < 0 {
		return nil, errors.New("pn532: negative duration or Retries in Opts")
	}
	o.Interval = cmp.Or(o.Interval, DefaultOpts.Interval)
	o.Gap = cmp.Or(o.Gap, DefaultOpts.Gap)
	o.AckTimeout = cmp.Or(o.AckTimeout, DefaultOpts.AckTimeout)
	o.ResponseTimeout = cmp.Or(o.ResponseTimeout, DefaultOpts.ResponseTimeout)
	o.Retries = cmp.Or(o.Retries, DefaultOpts.Retries)
	d := &Dev{rw: rw, name: portio.Name(rw, "port"), o: o, clk: clock.Or(o.Clock), taps: taps{gap: o.Gap}}
	d.log = o.Logger
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.log = d.log.With("dev", d.String())

	ctx := context.Background() // bounded by the timeouts
	// Mode 0x01 normal (no SAM); timeout 0x14 (20 × 50 ms, used in virtual
	// card mode only); IRQ 0x01, the P70_IRQ pin is driven (§7.2.10).
	if _, err := d.call(ctx, cmdSAMConfiguration, 0x01, 0x14, 0x01); err != nil {
		return nil, err
	}
	// CfgItem 0x05 MaxRetries: MxRtyATR and MxRtyPSL at their defaults
	// (0xFF, 0x01), MxRtyPassiveActivation bounded (§7.3.1).
	if _, err := d.call(ctx, cmdRFConfiguration, 0x05, 0xFF, 0x01, passiveRetries); err != nil {
		return nil, err
	}
	return d, nil
}

// Firmware is what GetFirmwareVersion returns (UM0701-02 §7.2.2).
type Firmware struct {
	// IC is the chip: 0x32 for a PN532.
	IC byte
	// Ver and Rev are the firmware's version and revision: 1.6 for the
	// PN532/C106.
	Ver, Rev byte
	// Support is a bit set: 0x01 ISO/IEC 14443 type A, 0x02 type B,
	// 0x04 ISO 18092.
	Support byte
}

// String gives the chip, the firmware and what it supports, as the doctor
// command prints it: "PN532 v1.6 (14443A 14443B 18092)".
func (f Firmware) String() string {
	var s []string
	for i, name := range []string{"14443A", "14443B", "18092"} {
		if f.Support&(1<<i) != 0 {
			s = append(s, name)
		}
	}
	return fmt.Sprintf("PN5%02X v%d.%d (%s)", f.IC, f.Ver, f.Rev, strings.Join(s, " "))
}

// FirmwareVersion asks the PN532 what it is, for the hardware doctor.
func (d *Dev) FirmwareVersion(ctx context.Context) (Firmware, error) {
	b, err := d.call(ctx, cmdGetFirmwareVersion)
	if err != nil {
		return Firmware{}, err
	}
	if len(b) != 4 {
		return Firmware{}, fmt.Errorf("pn532: GetFirmwareVersion: %d bytes, want 4: %w", len(b), ErrCorrupt)
	}
	return Firmware{IC: b[0], Ver: b[1], Rev: b[2], Support: b[3]}, nil
}

// ReadCard polls until a card is tapped, and returns its UID as upper-case
// hex (8, 14 or 20 digits). A card that stays on the reader is returned
// once. Any error but ctx's means the PN532 or its port is gone. UIDs
// identify members: the driver never logs them, nor puts them in errors.
func (d *Dev) ReadCard(ctx context.Context) (string, error) {
	for {
		uid, err := d.poll(ctx)
		if err != nil {
			return "", err
		}
		if d.taps.see(uid, d.clk.Now()) {
			return uid, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-d.clk.After(d.o.Interval):
		}
	}
}

// poll looks for one card: InListPassiveTarget with MaxTg 1 and BrTy 0x00,
// 106 kbps type A (§7.3.5). It returns its UID, or "" when there is none.
func (d *Dev) poll(ctx context.Context) (string, error) {
	b, err := d.call(ctx, cmdInListPassiveTarget, 0x01, 0x00)
	if err != nil {
		return "", err
	}
	uid, err := parseTarget(b)
	if err != nil {
		return "", fmt.Errorf("pn532: InListPassiveTarget: %w", err) // no bytes: they may hold a UID
	}
	return strings.ToUpper(hex.EncodeToString(uid)), nil
}

// parseTarget returns the NFCID1 of the first target in the data of an
// InListPassiveTarget response for 106 kbps type A: NbTg, then per target
// Tg, SENS_RES (2 bytes), SEL_RES, NFCIDLength, NFCID1 and perhaps an ATS.
// It returns nil when NbTg is 0.
func parseTarget(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("no NbTg: %w", ErrCorrupt)
	}
	if b[0] == 0 {
		return nil, nil
	}
	if len(b) < 6 {
		return nil, fmt.Errorf("target data cut short: %w", ErrCorrupt)
	}
	n := int(b[5])
	if n != 4 && n != 7 && n != 10 {
		return nil, fmt.Errorf("NFCIDLength %d, want 4, 7 or 10: %w", n, ErrCorrupt)
	}
	if len(b) < 6+n {
		return nil, fmt.Errorf("NFCID1 cut short: %w", ErrCorrupt)
	}
	return b[6 : 6+n], nil
}

// String says what and where: pn532{/dev/ttyAMA0}.
func (d *Dev) String() string { return "pn532{" + d.name + "}" }

// Halt powers the PN532 down, its RF field off, until the next command
// wakes it (PowerDown with HSU as the wake-up source, §7.2.11), and forgets
// the card last seen.
func (d *Dev) Halt() error {
	d.taps = taps{gap: d.o.Gap}
	b, err := d.call(context.Background(), cmdPowerDown, 0x10)
	if err != nil {
		return err
	}
	d.awake = false
	if len(b) != 1 || b[0] != 0 {
		return fmt.Errorf("pn532: PowerDown: status % X: %w", b, ErrCorrupt)
	}
	return nil
}

// taps turns polls into taps: a card counts once while it keeps answering,
// and again only once it has been missing from the polls for gap.
type taps struct {
	gap  time.Duration
	uid  string    // the card last reported
	gone time.Time // when a poll first missed it; zero while it answers
}

// see takes the UID a poll found ("" for none) at now, and reports whether
// it is a new tap.
func (t *taps) see(uid string, now time.Time) bool {
	switch {
	case uid == "":
		if t.uid != "" && t.gone.IsZero() {
			t.gone = now
		}
		return false
	case uid == t.uid && (t.gone.IsZero() || now.Sub(t.gone) < t.gap):
		t.gone = time.Time{} // back within the gap: the same tap
		return false
	}
	t.uid, t.gone = uid, time.Time{}
	return true
}
