package evdev

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"venuebox/device"
)

// keyboard writes events as the kernel does: struct input_event in the
// machine's byte order (little-endian on the Pi and on amd64), with a
// timestamp, for a given event size.
type keyboard struct {
	size int
	buf  []byte
	usec int64
}

func (k *keyboard) ev(typ, code uint16, value int32) {
	e := make([]byte, k.size)
	k.usec += 1000
	half := (k.size - 8) / 2
	if half == 8 {
		binary.NativeEndian.PutUint64(e[0:], 1_700_000_000)
		binary.NativeEndian.PutUint64(e[8:], uint64(k.usec))
	} else {
		binary.NativeEndian.PutUint32(e[0:], 1_700_000_000)
		binary.NativeEndian.PutUint32(e[4:], uint32(k.usec))
	}
	t := e[2*half:]
	binary.NativeEndian.PutUint16(t[0:], typ)
	binary.NativeEndian.PutUint16(t[2:], code)
	binary.NativeEndian.PutUint32(t[4:], uint32(value))
	k.buf = append(k.buf, e...)
}

// tap presses and releases a key, each followed by SYN_REPORT, with the
// MSC_SCAN event HID keyboards send before each key event.
func (k *keyboard) tap(code uint16) {
	for _, v := range []int32{valuePress, valueRelease} {
		k.ev(0x04, 0x04, 0x7000e) // EV_MSC MSC_SCAN: ignored
		k.ev(evKey, code, v)
		k.ev(evSyn, 0, 0)
	}
}

// keyFor finds the key and shift that type c.
func keyFor(t testing.TB, c byte) (code uint16, shift bool) {
	t.Helper()
	for i, k := range usKeys {
		if i >= 71 { // prefer the main block to the keypad
			break
		}
		if k[0] == c {
			return uint16(i), false
		}
		if k[1] == c {
			return uint16(i), true
		}
	}
	t.Fatalf("no key types %q", c)
	return 0, false
}

// typeCode types s then Enter, shifting with the left or right shift key.
func (k *keyboard) typeCode(t testing.TB, s string) {
	t.Helper()
	for i := 0; i < len(s); i++ {
		code, shift := keyFor(t, s[i])
		sh := uint16(keyLeftShift)
		if i%2 == 1 {
			sh = keyRightShift
		}
		if shift {
			k.ev(evKey, sh, valuePress)
		}
		k.tap(code)
		if shift {
			k.ev(evKey, sh, valueRelease)
		}
	}
	k.tap(keyEnter)
}

// pipe returns a Dev reading the read end of a pipe and the write end.
func pipe(t *testing.T, o *Opts) (*Dev, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	d, err := New(r, o)
	if err != nil {
		t.Fatal(err)
	}
	return d, w
}

// write sends b in odd-sized pieces, so events arrive split across reads.
func write(t *testing.T, w io.Writer, b []byte) {
	t.Helper()
	for len(b) > 0 {
		n := min(len(b), 37)
		if _, err := w.Write(b[:n]); err != nil {
			t.Error(err)
			return
		}
		b = b[n:]
	}
}

func scan(t *testing.T, d *Dev) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return d.Scan(ctx)
}

// ticketCode has every Base45 character a ticket code can hold.
const ticketCode = "VB1.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

func TestScan_pipe(t *testing.T) {
	for _, size := range []int{EventSize64, EventSize32} {
		t.Run(map[int]string{24: "64-bit", 16: "32-bit"}[size], func(t *testing.T) {
			d, w := pipe(t, &Opts{EventSize: size, MaxLen: 256})
			if got := d.String(); !strings.HasPrefix(got, "evdev{") || !strings.Contains(got, "|") {
				t.Errorf("String() = %q", got)
			}
			k := &keyboard{size: size}
			k.typeCode(t, ticketCode)
			k.typeCode(t, "lower-case, [punctuation]; 'too' ~!@#^&()_=\\|{}<>?\"`")
			go write(t, w, k.buf)
			for _, want := range []string{ticketCode, "lower-case, [punctuation]; 'too' ~!@#^&()_=\\|{}<>?\"`"} {
				got, err := scan(t, d)
				if err != nil || got != want {
					t.Fatalf("Scan = %q, %v; want %q", got, err, want)
				}
			}
		})
	}
}

func TestScan_unknownKeyThenNext(t *testing.T) {
	d, w := pipe(t, nil)
	k := &keyboard{size: NativeEventSize}
	k.tap(30) // a
	k.tap(59) // F1: no character
	k.tap(31) // s
	k.tap(keyEnter)
	k.typeCode(t, "NEXT")
	go write(t, w, k.buf)
	if code, err := scan(t, d); !errors.Is(err, device.ErrUnreadable) || code != "" {
		t.Fatalf("Scan with F1 = %q, %v; want unreadable", code, err)
	}
	if got, err := scan(t, d); err != nil || got != "NEXT" {
		t.Fatalf("after the unreadable code: Scan = %q, %v", got, err)
	}
}

func TestScan_partialEventAtEOF(t *testing.T) {
	d, w := pipe(t, nil)
	k := &keyboard{size: NativeEventSize}
	k.typeCode(t, "WHOLE")
	k.ev(evKey, 30, valuePress)
	write(t, w, k.buf[:len(k.buf)-10])
	w.Close()
	if got, err := scan(t, d); err != nil || got != "WHOLE" {
		t.Fatalf("Scan = %q, %v", got, err)
	}
	_, err := scan(t, d)
	if !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, device.ErrUnreadable) {
		t.Fatalf("Scan at a cut event: err = %v, want unexpected EOF (the device is gone)", err)
	}
}

func TestScan_eof(t *testing.T) {
	d, w := pipe(t, nil)
	w.Close()
	if _, err := scan(t, d); !errors.Is(err, io.EOF) {
		t.Fatalf("Scan at EOF: err = %v, want EOF", err)
	}
}

func TestScan_tooLongBounded(t *testing.T) {
	d, w := pipe(t, &Opts{MaxLen: 8})
	k := &keyboard{size: NativeEventSize}
	k.typeCode(t, strings.Repeat("X", 5000))
	k.typeCode(t, "FITS")
	go write(t, w, k.buf)
	if _, err := scan(t, d); !errors.Is(err, device.ErrUnreadable) {
		t.Fatalf("overlong code: err = %v, want unreadable", err)
	}
	if c := cap(d.s.t.buf); c > 8 {
		t.Errorf("code buffer grew to %d bytes", c)
	}
	if got, err := scan(t, d); err != nil || got != "FITS" {
		t.Fatalf("Scan = %q, %v", got, err)
	}
}

// steppingClock moves on by step at every reading, so each silence a driver
// measures between two readings is step long: no test sleeps for it.
type steppingClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *steppingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

func (c *steppingClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- c.Now().Add(d)
	return ch
}

func TestScan_staleDropped(t *testing.T) {
	d, w := pipe(t, &Opts{MaxLen: 64, Stale: time.Second, Clock: &steppingClock{t: time.Unix(0, 0), step: time.Second}})
	k := &keyboard{size: NativeEventSize}
	k.tap(30)
	k.tap(31)
	write(t, w, k.buf)
	if _, err := scan(t, d); !errors.Is(err, device.ErrUnreadable) || !strings.Contains(err.Error(), "2 keys without Enter") {
		t.Fatalf("code without Enter: err = %v, want unreadable", err)
	}
	k = &keyboard{size: NativeEventSize}
	k.typeCode(t, "AFTER")
	write(t, w, k.buf)
	if got, err := scan(t, d); err != nil || got != "AFTER" {
		t.Fatalf("Scan = %q, %v", got, err)
	}
}

func TestScan_contextEnds(t *testing.T) {
	d, _ := pipe(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if _, err := d.Scan(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

func TestNew_rejects(t *testing.T) {
	for _, o := range []Opts{
		{EventSize: 20, MaxLen: 10},
		{MaxLen: 0},
		{MaxLen: 10, UID: UIDFormat(7)},
	} {
		if _, err := New(strings.NewReader(""), &o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

// typed runs key events (code, value) through a typist and returns what it
// delivered: codes, or "!" for an unreadable one.
func typed(events ...event) []string {
	tp := newTypist(16)
	var out []string
	for _, e := range events {
		code, done, err := tp.event(e)
		switch {
		case done && errors.Is(err, device.ErrUnreadable):
			out = append(out, "!")
		case done:
			out = append(out, code)
		}
	}
	return out
}

func press(code uint16) event   { return event{evKey, code, valuePress} }
func release(code uint16) event { return event{evKey, code, valueRelease} }
func repeat(code uint16) event  { return event{evKey, code, 2} }

func TestTypist(t *testing.T) {
	enter := press(keyEnter)
	tests := []struct {
		name   string
		events []event
		want   []string
	}{
		{"plain", []event{press(30), release(30), press(2), enter}, []string{"a1"}},
		{"shift held over keys", []event{press(keyLeftShift), press(30), press(31), release(keyLeftShift), press(32), enter}, []string{"ASd"}},
		{"right shift", []event{press(keyRightShift), press(5), release(keyRightShift), enter}, []string{"$"}},
		{"autorepeat ignored", []event{press(30), repeat(30), repeat(30), release(30), enter}, []string{"a"}},
		{"shift autorepeat keeps shift", []event{press(keyLeftShift), repeat(keyLeftShift), press(30), enter}, []string{"A"}},
		{"caps lock", []event{press(keyCapsLock), press(30), press(2), press(keyLeftShift), press(31), enter}, []string{"A1s"}},
		{"keypad", []event{press(79), press(78), press(55), press(98), press(83), press(74), press(keyKPEnter)}, []string{"1+*/.-"}},
		{"enter alone is no scan", []event{enter, enter, press(30), enter}, []string{"a"}},
		{"unknown key", []event{press(30), press(59), press(31), enter, press(32), enter}, []string{"!", "d"}},
		{"key out of table", []event{press(700), enter}, []string{"!"}},
		{"ctrl held", []event{press(keyLeftCtrl), press(46), release(keyLeftCtrl), enter, press(46), enter}, []string{"!", "c"}},
		{"alt held", []event{press(keyRightAlt), press(79), enter}, []string{"!"}},
		{"too long", []event{press(30), press(30), press(30), press(30), press(30), press(30), press(30), press(30),
			press(30), press(30), press(30), press(30), press(30), press(30), press(30), press(30), press(30), enter}, []string{"!"}},
		{"dropped events", []event{press(30), {evSyn, synDropped, 0}, press(31), enter, press(32), enter}, []string{"!", "d"}},
		{"dropped resets shift", []event{press(keyLeftShift), {evSyn, synDropped, 0}, enter, press(30), enter}, []string{"!", "a"}},
		{"other types ignored", []event{{0x04, 4, 30}, {0x11, 0, 1}, press(30), {evSyn, 0, 0}, enter}, []string{"a"}},
		{"odd values ignored", []event{{evKey, 30, 7}, {evKey, 30, -1}, press(31), enter}, []string{"s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := typed(tt.events...)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadCard(t *testing.T) {
	tests := []struct {
		f     UIDFormat
		typed string
		want  string // "" for unreadable
	}{
		{UIDHex, "04a1b2c3", "04A1B2C3"},
		{UIDHex, "04:A1:B2:C3:D4:E5:F6", "04A1B2C3D4E5F6"},
		{UIDHex, "04-a1-b2-c3", "04A1B2C3"},
		{UIDHex, "04A1B2C", ""},                // odd
		{UIDHex, "04A1B2", ""},                 // too short
		{UIDHex, "04A1B2G3", ""},               // not hex
		{UIDHex, strings.Repeat("AB", 11), ""}, // too long
		{UIDDecimal, "0012345678", "00BC614E"},
		{UIDDecimal, "4294967295", "FFFFFFFF"},
		{UIDDecimal, "4294967296", "0100000000"},
		{UIDDecimal, "0", "00000000"},
		{UIDDecimal, "12AB", ""},
		{UIDDecimal, "99999999999999999999", ""}, // beyond 64 bits
	}
	for _, tt := range tests {
		d, w := pipe(t, &Opts{MaxLen: 64, UID: tt.f})
		k := &keyboard{size: NativeEventSize}
		k.typeCode(t, tt.typed)
		write(t, w, k.buf)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got, err := d.ReadCard(ctx)
		cancel()
		if tt.want == "" {
			if !errors.Is(err, device.ErrUnreadable) {
				t.Errorf("%v %q: ReadCard = %q, %v; want unreadable", tt.f, tt.typed, got, err)
			} else if strings.Contains(err.Error(), tt.typed) {
				t.Errorf("%v %q: the error quotes the UID: %v", tt.f, tt.typed, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%v %q: ReadCard = %q, %v; want %q", tt.f, tt.typed, got, err, tt.want)
		}
	}
}

func TestUIDFormat_String(t *testing.T) {
	if UIDHex.String() != "hex" || UIDDecimal.String() != "decimal" || UIDFormat(9).String() != "UIDFormat(9)" {
		t.Errorf("names: %v %v %v", UIDHex, UIDDecimal, UIDFormat(9))
	}
}

// grabbed stands in for a Node: it records the release.
type grabbed struct {
	io.Reader
	released bool
}

func (g *grabbed) Release() error { g.released = true; return nil }

func TestHalt(t *testing.T) {
	g := &grabbed{Reader: strings.NewReader("")}
	d, err := New(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.s.t.buf = append(d.s.t.buf, "HALF"...)
	d.s.t.keys = 4
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if !g.released || d.s.t.pending() {
		t.Errorf("after Halt: released %v, pending %v", g.released, d.s.t.pending())
	}
}

func FuzzEvents(f *testing.F) {
	k := &keyboard{size: EventSize64}
	k.typeCode(f, ticketCode)
	k.tap(59)
	k.tap(keyEnter)
	f.Add(k.buf, uint8(0), uint8(5))
	k = &keyboard{size: EventSize32}
	k.typeCode(f, "abc")
	f.Add(k.buf, uint8(1), uint8(17))
	f.Add([]byte("\x01\x00\x1c\x00\x01\x00\x00\x00"), uint8(1), uint8(0))
	f.Fuzz(func(t *testing.T, in []byte, size, chunk uint8) {
		sz := EventSize64
		if size%2 == 1 {
			sz = EventSize32
		}
		const maxLen = 32
		feedAll := func(s *stream, p []byte) []string {
			var out []string
			for len(p) > 0 {
				n, code, done, err := s.feed(p)
				if n == 0 && !done {
					t.Fatalf("feed made no progress on %d bytes", len(p))
				}
				p = p[n:]
				if !done {
					continue
				}
				if err != nil {
					if !errors.Is(err, device.ErrUnreadable) {
						t.Fatalf("error not unreadable: %v", err)
					}
					out = append(out, "!")
					continue
				}
				if code == "" || len(code) > maxLen {
					t.Fatalf("delivered code of %d bytes", len(code))
				}
				for i := 0; i < len(code); i++ {
					if code[i] < ' ' || code[i] > '~' {
						t.Fatalf("delivered non-printable %q", code)
					}
				}
				out = append(out, code)
			}
			if s.n >= s.size || len(s.t.buf) > maxLen {
				t.Fatalf("holds %d partial bytes, %d code bytes", s.n, len(s.t.buf))
			}
			return out
		}
		whole := feedAll(newStream(sz, maxLen), in)
		s := newStream(sz, maxLen)
		var pieces []string
		step := int(chunk%29) + 1
		for i := 0; i < len(in); i += step {
			pieces = append(pieces, feedAll(s, in[i:min(i+step, len(in))])...)
		}
		if strings.Join(whole, "\x00") != strings.Join(pieces, "\x00") {
			t.Fatalf("chunking changed the result: %q vs %q", whole, pieces)
		}
	})
}
