// Package mlx90614 reads the Melexis MLX90614 infrared thermometer over
// I2C (SMBus), to screen the skin temperature of the person at a gate.
//
// A reading is a flag for a second check by staff, never a refusal by
// itself: a single-pixel IR sensor aimed at a forehead measures skin, not
// body temperature, and IEC 80601-2-59 asks that an elevated skin
// temperature be followed up with a clinical thermometer. The box records
// the value and may hold the visitor for that check; it must not reject on
// it.
//
// The chip answers SMBus "read word": the host writes the command (a RAM
// address: 0x06 ambient, 0x07 object), then, after a repeated start, reads
// the data LSB, MSB and a PEC byte, a CRC-8 over the whole transaction. The
// driver checks the PEC (a misread on a long or noisy bus can come back
// as 0xFF bytes), the error flag in bit 15 and a plausible range, so a bad
// transfer is an error rather than a temperature. periph's i2c.Dev.Tx
// issues the write and the read as one transfer with a repeated start,
// which the chip needs; on a Raspberry Pi set the bus to 100 kHz or less
// (dtparam=i2c_arm_baudrate=100000), the SMBus rate the chip is specified
// for.
//
// Datasheet: https://www.melexis.com/en/documents/documentation/datasheets/datasheet-mlx90614
//
// The driver does not own the bus: the application opens it (i2creg.Open),
// passes it to New and closes it after Halt.
package mlx90614

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/i2c"

	"venuebox/device"
	"venuebox/device/clock"
)

// RAM registers (SMBus commands 0b000x_xxxx).
const (
	cmdAmbient = 0x06 // Ta, the chip's own temperature
	cmdObject  = 0x07 // Tobj1, the object in the field of view
)

// Limits on Opts.
const (
	maxSamples = 50
	maxOffsetC = 10.0
)

// Errors a reading can wrap; I/O errors from the bus are wrapped as they
// come.
var (
	// ErrPEC means the PEC byte does not match the transaction: the bytes
	// were corrupted on the bus, or the chip did not answer.
	ErrPEC = errors.New("mlx90614: PEC mismatch")
	// ErrFlag means the chip set the error flag (bit 15) in the word.
	ErrFlag = errors.New("mlx90614: error flag set")
	// ErrRange means the reading is outside MinC..MaxC.
	ErrRange = errors.New("mlx90614: reading out of range")
	// ErrTooFew means too many samples of one measurement failed.
	ErrTooFew = errors.New("mlx90614: too few valid samples")
	// ErrHalted means Halt interrupted the measurement.
	ErrHalted = errors.New("mlx90614: halted")
)

// Opts configures a thermometer. Unlike some drivers, New takes the fields
// as they are: start from DefaultOpts and change what differs.
type Opts struct {
	// Addr is the chip's 7-bit SMBus address, 0x01..0x7f; chips ship at
	// 0x5a.
	Addr uint16
	// OffsetC is added to the object temperature by Temperature, in °C,
	// within ±10: the difference between skin as the sensor sees it and a
	// reference thermometer, measured at installation.
	OffsetC float64
	// Samples is how many valid object readings Temperature takes, 1..50;
	// it returns their median, which ignores the odd reading of a hand or
	// a hat passing through the field of view.
	Samples int
	// Interval is the pause between two samples. Samples×Interval is how
	// long the person must stand in front of the sensor; the box gives a
	// measurement 500 ms.
	Interval time.Duration
	// MaxSkipped is how many failed samples (I/O error, PEC, error flag,
	// out of range) Temperature skips and replaces before it gives up with
	// ErrTooFew.
	MaxSkipped int
	// Clock paces the samples; nil means the system clock.
	Clock clock.Clock
}

// DefaultOpts reads a chip at 0x5a: five samples 40 ms apart (about 160 ms
// in all), up to two failed ones replaced, no offset.
var DefaultOpts = Opts{
	Addr:       0x5a,
	Samples:    5,
	Interval:   40 * time.Millisecond,
	MaxSkipped: 2,
}

// Dev is an MLX90614 on an I2C bus. Its methods may be called concurrently.
type Dev struct {
	c   i2c.Dev
	o   Opts
	clk clock.Clock

	mu   sync.Mutex
	halt chan struct{} // closed by Halt to interrupt measurements under way
}

var (
	_ device.Thermometer = (*Dev)(nil)
	_ conn.Resource      = (*Dev)(nil)
)

// New returns the thermometer at opts.Addr on bus; a nil opts means
// DefaultOpts. It does not talk to the chip: the first reading tells
// whether it is there.
func New(bus i2c.Bus, opts *Opts) (*Dev, error) {
	if bus == nil {
		return nil, errors.New("mlx90614: nil bus")
	}
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	switch {
	case o.Addr < 0x01 || o.Addr > 0x7f:
		return nil, fmt.Errorf("mlx90614: address %#x is not a 7-bit address within 0x01..0x7f", o.Addr)
	case math.IsNaN(o.OffsetC) || math.Abs(o.OffsetC) > maxOffsetC:
		return nil, fmt.Errorf("mlx90614: offset %g °C not within ±%g °C", o.OffsetC, maxOffsetC)
	case o.Samples < 1 || o.Samples > maxSamples:
		return nil, fmt.Errorf("mlx90614: samples %d not within 1..%d", o.Samples, maxSamples)
	case o.Interval < 0:
		return nil, fmt.Errorf("mlx90614: negative interval %v", o.Interval)
	case o.MaxSkipped < 0:
		return nil, fmt.Errorf("mlx90614: negative MaxSkipped %d", o.MaxSkipped)
	}
	return &Dev{
		c:    i2c.Dev{Bus: bus, Addr: o.Addr},
		o:    o,
		clk:  clock.Or(o.Clock),
		halt: make(chan struct{}),
	}, nil
}

// String says what and where the thermometer is: mlx90614{I2C1@0x5a}.
func (d *Dev) String() string {
	return fmt.Sprintf("mlx90614{%s@0x%02x}", d.c.Bus, d.c.Addr)
}

// Halt interrupts the measurements under way, which return ErrHalted; later
// calls read again. The chip itself needs no stopping: it measures
// continuously and the driver only reads its RAM.
func (d *Dev) Halt() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	close(d.halt)
	d.halt = make(chan struct{})
	return nil
}

// Object returns one reading of the object temperature (RAM 0x07), in °C,
// without the offset.
func (d *Dev) Object(ctx context.Context) (float64, error) {
	return d.read(ctx, cmdObject)
}

// Ambient returns one reading of the chip's own temperature (RAM 0x06), in
// °C. A sensor far warmer or colder than the room it stands in reads
// objects poorly: the doctor command shows it.
func (d *Dev) Ambient(ctx context.Context) (float64, error) {
	return d.read(ctx, cmdAmbient)
}

// Temperature returns the median of Opts.Samples object readings plus
// Opts.OffsetC, in °C. A failed sample is replaced by another, up to
// Opts.MaxSkipped of them; past that Temperature returns an error wrapping
// ErrTooFew and the last sample's error. It returns ctx's error if ctx ends
// first, and ErrHalted if Halt is called meanwhile.
//
// The result is a reason to have staff check the visitor with a clinical
// thermometer, never by itself a reason to refuse entry.
func (d *Dev) Temperature(ctx context.Context) (float64, error) {
	d.mu.Lock()
	halt := d.halt
	d.mu.Unlock()
	samples := make([]float64, 0, d.o.Samples)
	skipped := 0
	for first := true; len(samples) < d.o.Samples; first = false {
		if !first {
			select {
			case <-d.clk.After(d.o.Interval):
			case <-ctx.Done():
				return 0, fmt.Errorf("mlx90614: temperature: %w", ctx.Err())
			case <-halt:
				return 0, ErrHalted
			}
		}
		c, err := d.read(ctx, cmdObject)
		if err != nil {
			if ctx.Err() != nil {
				return 0, fmt.Errorf("mlx90614: temperature: %w", ctx.Err())
			}
			if skipped++; skipped > d.o.MaxSkipped {
				return 0, fmt.Errorf("%w: %d of %d samples failed, last: %w", ErrTooFew, skipped, len(samples)+skipped, err)
			}
			continue
		}
		samples = append(samples, c)
	}
	return median(samples) + d.o.OffsetC, nil
}

// read reads the RAM register cmd and decodes it.
func (d *Dev) read(ctx context.Context, cmd byte) (float64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("mlx90614: read %s: %w", regName(cmd), err)
	}
	var r [3]byte
	if err := d.c.Tx([]byte{cmd}, r[:]); err != nil {
		return 0, fmt.Errorf("mlx90614: read %s: %w", regName(cmd), err)
	}
	return decode(d.c.Addr, cmd, r[:])
}

// median returns the middle of xs, or the mean of the two middle values
// when len(xs) is even. It sorts xs.
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
