package mlx90614

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c/i2ctest"
)

// The PEC of the datasheet's example, reading Tobj1 (RAM 0x07) from a chip
// at 0x5a, by hand. The transaction's bytes are 0xb4 (0x5a<<1, write),
// 0x07, 0xb5 (0x5a<<1|1, read), then LSB 0xd2 and MSB 0x3a. Each step XORs
// the byte into the register, then shifts left eight times, XORing 0x07
// after each shift that pushed out a 1:
//
//	0x00^0xb4 = 1011_0100
//	  <<1 → 0110_1000 (1 out) ^0x07 → 0110_1111
//	  <<1 → 1101_1110 (0 out)
//	  <<1 → 1011_1100 (1 out) ^0x07 → 1011_1011
//	  <<1 → 0111_0110 (1 out) ^0x07 → 0111_0001
//	  <<1 → 1110_0010 (0 out)
//	  <<1 → 1100_0100 (1 out) ^0x07 → 1100_0011
//	  <<1 → 1000_0110 (1 out) ^0x07 → 1000_0001
//	  <<1 → 0000_0010 (1 out) ^0x07 → 0000_0101 = 0x05
//	0x05^0x07 = 0x02 → 0x0e
//	0x0e^0xb5 = 0xbb → 0x28
//	0x28^0xd2 = 0xfa → 0xe8
//	0xe8^0x3a = 0xd2 → 0x30
//
// 0x30 is the PEC the datasheet gives, and the word 0x3ad2 = 15058 is
// 15058×0.02 − 273.15 = 28.01 °C.
var datasheetRead = i2ctest.IO{Addr: 0x5a, W: []byte{0x07}, R: []byte{0xd2, 0x3a, 0x30}}

// crcDiv is the test's own PEC: the remainder of the message, as a
// polynomial over GF(2) times x⁸, divided by x⁸+x²+x+1 (0x107), by long
// division on a 64-bit word. It shares no code with pec and works for
// messages of up to 7 bytes.
func crcDiv(msg ...byte) byte {
	var v uint64
	for _, b := range msg {
		v = v<<8 | uint64(b)
	}
	v <<= 8
	for bit := 8*len(msg) + 7; bit >= 8; bit-- {
		if v&(1<<bit) != 0 {
			v ^= 0x107 << (bit - 8)
		}
	}
	return byte(v)
}

// readIO is the traffic of reading word raw from RAM register cmd of the
// chip at 0x5a, with a correct PEC.
func readIO(cmd byte, raw uint16) i2ctest.IO {
	lsb, msb := byte(raw), byte(raw>>8)
	return i2ctest.IO{Addr: 0x5a, W: []byte{cmd}, R: []byte{lsb, msb, crcDiv(0xb4, cmd, 0xb5, lsb, msb)}}
}

// word returns the raw word for a temperature in hundredths of °C, which
// must be a whole number of 0.02 K steps.
func word(t *testing.T, hundredths int) uint16 {
	t.Helper()
	k := hundredths + 27315
	if k%2 != 0 || k < 0 || k > 0x7fff*2 {
		t.Fatalf("%d/100 °C is not a whole number of 0.02 K steps", hundredths)
	}
	return uint16(k / 2)
}

// fakeClock records the waits asked of it. After fires at once, unless
// block is set: then it never fires and reports each call on asked.
type fakeClock struct {
	mu    sync.Mutex
	waits []time.Duration
	block bool
	asked chan struct{}
}

func (c *fakeClock) Now() time.Time { return time.Unix(0, 0) }

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	ch := make(chan time.Time, 1)
	if c.block {
		c.asked <- struct{}{}
	} else {
		ch <- time.Unix(0, 0)
	}
	return ch
}

// newDev returns a Dev on a playback of ops with DefaultOpts changed by
// edit, and checks at the end of the test that every op was played.
func newDev(t *testing.T, ops []i2ctest.IO, edit func(*Opts)) (*Dev, *fakeClock) {
	t.Helper()
	bus := &i2ctest.Playback{Ops: ops, DontPanic: true}
	clk := &fakeClock{}
	o := DefaultOpts
	o.Clock = clk
	if edit != nil {
		edit(&o)
	}
	d, err := New(bus, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := bus.Close(); err != nil {
			t.Error(err)
		}
	})
	return d, clk
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestPEC_knownVectors(t *testing.T) {
	for _, tt := range []struct {
		name string
		msg  []byte
		want byte
	}{
		// The datasheet's read of Tobj1, worked by hand above.
		{"datasheet read Tobj1", []byte{0xb4, 0x07, 0xb5, 0xd2, 0x3a}, 0x30},
		// Ta read from a real chip at 0x5a and checked on a logic
		// analyser: "Checking the CRC-8 PEC byte of MLX90614",
		// https://acassis.wordpress.com/2018/10/27/checking-the-crc-8-pec-byte-of-mlx90614/
		{"Ta from a chip", []byte{0xb4, 0x06, 0xb5, 0xdf, 0x3a}, 0xcf},
		// The application note's write word erasing EEPROM 0x0e (the
		// SMBus address) at address 0: 0x00, 0x2e, 0x00, 0x00, PEC 0x6f.
		{"app note erase", []byte{0x00, 0x2e, 0x00, 0x00}, 0x6f},
	} {
		if got := pec(tt.msg...); got != tt.want {
			t.Errorf("%s: pec = %#02x, want %#02x", tt.name, got, tt.want)
		}
		if got := crcDiv(tt.msg...); got != tt.want {
			t.Errorf("%s: crcDiv = %#02x, want %#02x", tt.name, got, tt.want)
		}
	}
}

func TestPEC_matchesLongDivision(t *testing.T) {
	for a := range 0x80 {
		for _, cmd := range []byte{0x06, 0x07, 0x25} {
			for _, raw := range []uint16{0, 1, 0x3ad2, 0x7fff, 0x8000, 0xffff, uint16(a) * 517} {
				msg := []byte{byte(a << 1), cmd, byte(a<<1 | 1), byte(raw), byte(raw >> 8)}
				if got, want := pec(msg...), crcDiv(msg...); got != want {
					t.Fatalf("pec(% x) = %#02x, long division gives %#02x", msg, got, want)
				}
			}
		}
	}
}

func TestObject_datasheetVector(t *testing.T) {
	d, _ := newDev(t, []i2ctest.IO{datasheetRead}, nil)
	c, err := d.Object(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c != 28.01 {
		t.Errorf("Object = %v °C, want 28.01", c)
	}
}

func TestAmbient_realChip(t *testing.T) {
	// 0x3adf = 15071: 301.42 K = 28.27 °C.
	d, _ := newDev(t, []i2ctest.IO{{Addr: 0x5a, W: []byte{0x06}, R: []byte{0xdf, 0x3a, 0xcf}}}, nil)
	c, err := d.Ambient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c != 28.27 {
		t.Errorf("Ambient = %v °C, want 28.27", c)
	}
}

func TestObject_otherAddress(t *testing.T) {
	// At 0x5b the address bytes are 0xb6 and 0xb7, so the datasheet's
	// data bytes need another PEC.
	io := i2ctest.IO{Addr: 0x5b, W: []byte{0x07}, R: []byte{0xd2, 0x3a, crcDiv(0xb6, 0x07, 0xb7, 0xd2, 0x3a)}}
	d, _ := newDev(t, []i2ctest.IO{io}, func(o *Opts) { o.Addr = 0x5b })
	if c, err := d.Object(context.Background()); err != nil || c != 28.01 {
		t.Errorf("Object = %v, %v; want 28.01", c, err)
	}
}

func TestObject_errors(t *testing.T) {
	flagged := readIO(0x07, 0x8000|0x3ad2)
	badPEC := datasheetRead
	badPEC.R = []byte{0xd2, 0x3a, 0x31}
	// A bus that did not answer: every byte read as 0xff.
	allFF := i2ctest.IO{Addr: 0x5a, W: []byte{0x07}, R: []byte{0xff, 0xff, 0xff}}
	for _, tt := range []struct {
		name string
		io   i2ctest.IO
		want error
		msg  string
	}{
		{"bad PEC", badPEC, ErrPEC, "mlx90614: PEC mismatch on object (0x07): got 0x31, want 0x30"},
		{"no answer", allFF, ErrPEC, "mlx90614: PEC mismatch on object (0x07)"},
		{"error flag", flagged, ErrFlag, "mlx90614: error flag set in object (0x07) word 0xbad2"},
		{"above 125", readIO(0x07, word(t, 12501)), ErrRange, "mlx90614: reading out of range: object (0x07) 125.01 °C"},
		{"below -40", readIO(0x07, word(t, -4001)), ErrRange, "not within -40..125 °C"},
		{"zero word", readIO(0x07, 0), ErrRange, "-273.15 °C"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := newDev(t, []i2ctest.IO{tt.io}, nil)
			c, err := d.Object(context.Background())
			if !errors.Is(err, tt.want) {
				t.Fatalf("Object = %v, %v; want an error wrapping %v", c, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
		})
	}
}

func TestObject_limitsAccepted(t *testing.T) {
	for _, h := range []int{-3999, 12499} {
		d, _ := newDev(t, []i2ctest.IO{readIO(0x07, word(t, h))}, nil)
		if c, err := d.Object(context.Background()); err != nil || !near(c, float64(h)/100) {
			t.Errorf("Object = %v, %v; want %v", c, err, float64(h)/100)
		}
	}
}

func TestObject_busError(t *testing.T) {
	// A playback with nothing to play fails the transfer, as a chip that
	// does not acknowledge its address would.
	d, _ := newDev(t, nil, nil)
	_, err := d.Object(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "mlx90614: read object (0x07): i2ctest: unexpected Tx()") {
		t.Fatalf("Object error = %v, want the bus's error under mlx90614: read object", err)
	}
}

// samples is the traffic of one object reading per value, in hundredths.
func samples(t *testing.T, hundredths ...int) []i2ctest.IO {
	var ops []i2ctest.IO
	for _, h := range hundredths {
		ops = append(ops, readIO(0x07, word(t, h)))
	}
	return ops
}

func TestTemperature_medianIgnoresOutlier(t *testing.T) {
	// A hand in the field of view for one sample.
	d, clk := newDev(t, samples(t, 3651, 3661, 3641, 4501, 3655), nil)
	c, err := d.Temperature(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !near(c, 36.55) {
		t.Errorf("Temperature = %v, want the median 36.55", c)
	}
	want := []time.Duration{40 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond}
	if !slices.Equal(clk.waits, want) {
		t.Errorf("waits = %v, want %v", clk.waits, want)
	}
}

func TestTemperature_offsetApplied(t *testing.T) {
	d, _ := newDev(t, samples(t, 3651, 3661, 3641, 4501, 3655), func(o *Opts) { o.OffsetC = 0.8 })
	c, err := d.Temperature(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !near(c, 37.35) {
		t.Errorf("Temperature = %v, want 36.55 + 0.8 = 37.35", c)
	}
	// Object is the sensor's reading, without the offset.
	d, _ = newDev(t, samples(t, 3651), func(o *Opts) { o.OffsetC = 0.8 })
	if c, err := d.Object(context.Background()); err != nil || !near(c, 36.51) {
		t.Errorf("Object = %v, %v; want 36.51", c, err)
	}
}

func TestTemperature_evenSamplesAverageMiddle(t *testing.T) {
	d, _ := newDev(t, samples(t, 3601, 3621, 3641, 3661), func(o *Opts) { o.Samples = 4 })
	if c, err := d.Temperature(context.Background()); err != nil || !near(c, 36.31) {
		t.Errorf("Temperature = %v, %v; want (36.21+36.41)/2 = 36.31", c, err)
	}
}

func TestTemperature_skipsFailedSamples(t *testing.T) {
	ops := samples(t, 3651, 3661)
	bad := datasheetRead
	bad.R = []byte{0xd2, 0x3a, 0x00}
	ops = append(ops, bad, readIO(0x07, 0x8000), readIO(0x07, word(t, 3641)))
	d, clk := newDev(t, ops, func(o *Opts) { o.Samples = 3 })
	c, err := d.Temperature(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !near(c, 36.51) {
		t.Errorf("Temperature = %v, want the median of the three valid samples, 36.51", c)
	}
	if len(clk.waits) != 4 {
		t.Errorf("waited %d times, want 4 (one before each sample after the first)", len(clk.waits))
	}
}

func TestTemperature_tooManyFailures(t *testing.T) {
	ops := samples(t, 3651)
	bad := datasheetRead
	bad.R = []byte{0xd2, 0x3a, 0x00}
	ops = append(ops, bad, bad, bad)
	d, _ := newDev(t, ops, nil)
	_, err := d.Temperature(context.Background())
	if !errors.Is(err, ErrTooFew) || !errors.Is(err, ErrPEC) {
		t.Fatalf("Temperature error = %v, want one wrapping ErrTooFew and ErrPEC", err)
	}
	if want := "mlx90614: too few valid samples: 3 of 4 samples failed, last: mlx90614: PEC mismatch"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start %q", err, want)
	}
}

func TestTemperature_noSkipping(t *testing.T) {
	bad := datasheetRead
	bad.R = []byte{0xd2, 0x3a, 0x00}
	d, _ := newDev(t, []i2ctest.IO{bad}, func(o *Opts) { o.MaxSkipped = 0 })
	if _, err := d.Temperature(context.Background()); !errors.Is(err, ErrTooFew) {
		t.Fatalf("Temperature error = %v, want ErrTooFew", err)
	}
}

func TestTemperature_canceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, _ := newDev(t, nil, nil) // no traffic: the bus must not be touched
	if _, err := d.Temperature(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Temperature error = %v, want context.Canceled", err)
	}
}

func TestTemperature_deadlineBetweenSamples(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	d, clk := newDev(t, samples(t, 3651), nil)
	clk.block = true
	clk.asked = make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		_, err := d.Temperature(ctx)
		errc <- err
	}()
	<-clk.asked // waiting for the second sample
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Temperature error = %v, want context.Canceled", err)
	}
}

func TestHalt_interruptsTemperature(t *testing.T) {
	d, clk := newDev(t, samples(t, 3651, 3661), nil)
	clk.block = true
	clk.asked = make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		_, err := d.Temperature(context.Background())
		errc <- err
	}()
	<-clk.asked
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrHalted) {
		t.Fatalf("Temperature error = %v, want ErrHalted", err)
	}
	// A halted thermometer reads again.
	if c, err := d.Object(context.Background()); err != nil || !near(c, 36.61) {
		t.Errorf("Object after Halt = %v, %v; want 36.61", c, err)
	}
}

func TestNew_validates(t *testing.T) {
	bus := &i2ctest.Playback{}
	for _, tt := range []struct {
		name string
		edit func(*Opts)
		want string
	}{
		{"addr 0", func(o *Opts) { o.Addr = 0 }, "mlx90614: address 0x0 is not a 7-bit address within 0x01..0x7f"},
		{"addr 0x80", func(o *Opts) { o.Addr = 0x80 }, "mlx90614: address 0x80 is not"},
		{"offset", func(o *Opts) { o.OffsetC = 10.5 }, "mlx90614: offset 10.5 °C not within ±10 °C"},
		{"offset NaN", func(o *Opts) { o.OffsetC = math.NaN() }, "mlx90614: offset NaN"},
		{"samples 0", func(o *Opts) { o.Samples = 0 }, "mlx90614: samples 0 not within 1..50"},
		{"samples 51", func(o *Opts) { o.Samples = 51 }, "mlx90614: samples 51"},
		{"interval", func(o *Opts) { o.Interval = -time.Millisecond }, "mlx90614: negative interval -1ms"},
		{"skipped", func(o *Opts) { o.MaxSkipped = -1 }, "mlx90614: negative MaxSkipped -1"},
	} {
		o := DefaultOpts
		tt.edit(&o)
		if _, err := New(bus, &o); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: New error = %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := New(nil, nil); err == nil {
		t.Error("New(nil bus) succeeded")
	}
}

func TestString(t *testing.T) {
	d, err := New(&i2ctest.Playback{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.String(), "mlx90614{playback@0x5a}"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}
