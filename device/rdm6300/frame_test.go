package rdm6300

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"
)

// The two examples in the module's specification.
var (
	specFrame  = []byte("\x0262E3086CED08\x03") // 62^E3^08^6C^ED = 08
	specFrame2 = []byte("\x0201000734E0D2\x03") // 01^00^07^34^E0 = D2
)

// frameOf builds the frame the module sends for tag.
func frameOf(tag [5]byte) []byte {
	return fmt.Appendf(nil, "\x02%X%02X\x03", tag[:], tag[0]^tag[1]^tag[2]^tag[3]^tag[4])
}

func TestParse(t *testing.T) {
	badSum := []byte("\x0262E3086CED09\x03")
	tests := []struct {
		name string
		in   []byte
		tag  [5]byte
		n    int
		err  error
	}{
		{"spec", specFrame, [5]byte{0x62, 0xE3, 0x08, 0x6C, 0xED}, 14, nil},
		{"spec 2", specFrame2, [5]byte{0x01, 0x00, 0x07, 0x34, 0xE0}, 14, nil},
		{"lower case", []byte("\x0262e3086ced08\x03"), [5]byte{0x62, 0xE3, 0x08, 0x6C, 0xED}, 14, nil},
		{"garbage first", append([]byte("\xff\x03AB"), specFrame...), [5]byte{0x62, 0xE3, 0x08, 0x6C, 0xED}, 18, nil},
		{"bad checksum", badSum, [5]byte{}, 1, errChecksum},
		{"not hex", []byte("\x0262E3086CEG08\x03"), [5]byte{}, 1, errNotHex},
		{"STX inside", append([]byte("\x0262E3"), specFrame...), [5]byte{}, 1, errNotHex},
		{"no ETX", []byte("\x0262E3086CED08\x02"), [5]byte{}, 1, errNoETX},
		{"cut short", specFrame[:13], [5]byte{}, 0, errShort},
		{"garbage only", []byte("\x00\x03\xffhello"), [5]byte{}, 8, errShort},
		{"empty", nil, [5]byte{}, 0, errShort},
	}
	for _, tt := range tests {
		tag, n, err := parse(tt.in)
		if !errors.Is(err, tt.err) || n != tt.n || tag != tt.tag {
			t.Errorf("%s: parse = % X, %d, %v; want % X, %d, %v", tt.name, tag, n, err, tt.tag, tt.n, tt.err)
		}
	}
}

func TestTaps(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	a, b := [5]byte{1, 2, 3, 4, 5}, [5]byte{9, 8, 7, 6, 5}
	steps := []struct {
		ms   int
		tag  [5]byte
		want bool
	}{
		{0, a, true},
		{60, a, false}, // repeats while it rests
		{120, a, false},
		{600, a, false}, // a gap under a second: still the same tap
		{1700, a, true}, // 1.1 s without it: a new tap
		{1760, b, true}, // another tag at once
		{1820, a, true},
		{1880, [5]byte{}, true}, // an all-zero tag is a tag too
	}
	tp := taps{gap: time.Second}
	for _, s := range steps {
		if got := tp.see(s.tag, t0.Add(time.Duration(s.ms)*time.Millisecond)); got != s.want {
			t.Errorf("at %d ms, see(% X) = %v, want %v", s.ms, s.tag, got, s.want)
		}
	}
}

func TestNew_badOpts(t *testing.T) {
	if _, err := New(nil, &Opts{Gap: -time.Second}); err == nil {
		t.Error("New with a negative gap succeeded")
	}
}

func FuzzFrame(f *testing.F) {
	f.Add(specFrame)
	f.Add(append([]byte("\x02\x02\x03garbage\x02"), specFrame2...))
	f.Add(bytes.Repeat([]byte{stx}, 20))
	f.Fuzz(func(t *testing.T, in []byte) {
		// Any input: no panic, progress, and a tag only from a frame whose
		// checksum holds.
		for b := in; len(b) > 0; {
			tag, n, err := parse(b)
			if n < 0 || n > len(b) {
				t.Fatalf("parse used %d of %d bytes", n, len(b))
			}
			if errors.Is(err, errShort) && n == 0 {
				break // needs more bytes
			}
			if !errors.Is(err, errShort) && n == 0 {
				t.Fatalf("parse made no progress: %v", err)
			}
			if err == nil {
				fr := b[n-frameLen : n]
				if !bytes.EqualFold(fr, frameOf(tag)) {
					t.Fatalf("parsed % X from %q", tag, fr)
				}
			}
			b = b[n:]
		}
		// A frame built from any five bytes parses back to them.
		var tag [5]byte
		copy(tag[:], in)
		got, n, err := parse(frameOf(tag))
		if err != nil || n != frameLen || got != tag {
			t.Fatalf("round trip of % X: % X, %d, %v", tag, got, n, err)
		}
	})
}
