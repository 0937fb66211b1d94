package camera

import (
	"bytes"
	"testing"
)

// seg is a JPEG marker segment with a length: FF m, length, body.
func seg(m byte, body []byte) []byte {
	n := len(body) + 2
	return append([]byte{0xFF, m, byte(n >> 8), byte(n)}, body...)
}

// tinyJPEG is a frame with the framer's hard parts: an APP1 segment holding
// a whole thumbnail JPEG (its own SOI and EOI), fill bytes before a marker,
// a stuffed 0xFF and restart markers in the entropy data, and a second scan
// after a DHT segment, as a progressive JPEG has.
func tinyJPEG(fill byte) []byte {
	thumb := []byte{0xFF, markerSOI, 0xFF, markerEOI}
	var b []byte
	b = append(b, 0xFF, markerSOI)
	b = append(b, seg(0xE1, append([]byte("Exif\x00\x00"), thumb...))...)
	b = append(b, seg(0xDB, bytes.Repeat([]byte{fill}, 65))...)
	b = append(b, 0xFF, 0xFF) // fill bytes before the next marker
	b = append(b, seg(markerSOS, []byte{1, 1, 0, 0, 63, 0})...)
	b = append(b, fill, 0xFF, 0x00, fill, 0xFF, markerRST, fill, 0xFF, markerRST+7, fill)
	b = append(b, seg(0xC4, []byte{0, 1, 2})...)
	b = append(b, seg(markerSOS, []byte{1, 1, 0, 0, 63, 0})...)
	b = append(b, fill, 0xFF, 0x00)
	return append(b, 0xFF, markerEOI)
}

// cut feeds in to a framer in pieces of step bytes and returns the frames
// found, copied, and the number of oversized frames dropped.
func cut(f *framer, in []byte, step int) (frames [][]byte, dropped int) {
	for i := 0; i < len(in); i += step {
		p := in[i:min(i+step, len(in))]
		for len(p) > 0 {
			n, found := f.feed(p)
			p = p[n:]
			switch found {
			case foundFrame:
				frames = append(frames, bytes.Clone(f.frame()))
			case foundOversized:
				dropped++
			}
		}
	}
	return frames, dropped
}

func TestFramer(t *testing.T) {
	a, b, c := tinyJPEG(0x11), tinyJPEG(0x22), tinyJPEG(0x44)
	tests := []struct {
		name    string
		in      []byte
		max     int
		want    [][]byte
		dropped int
	}{
		{"back to back", cat(a, b), 1 << 10, [][]byte{a, b}, 0},
		{"garbage between", cat([]byte("junk\xFF\x00\xFF"), a, []byte{0xFF, 0xFF, 0x12}, b, []byte("tail")), 1 << 10, [][]byte{a, b}, 0},
		{"cut short in its data, then a frame", cat(a[:len(a)-5], b), 1 << 10, [][]byte{b}, 0},
		// A frame cut inside a segment header takes the next frame's start
		// for the rest of the segment: that frame is lost too, not more.
		{"cut short in a header", cat(a[:20], b, c), 1 << 10, [][]byte{c}, 0},
		{"no marker where one must be", cat(a[:2], []byte{0x42}, b), 1 << 10, [][]byte{b}, 0},
		{"bad length", cat([]byte{0xFF, markerSOI, 0xFF, 0xDB, 0, 1}, b), 1 << 10, [][]byte{b}, 0},
		{"oversized dropped", cat(a, b), len(a) - 1, nil, 2},
		{"oversized then fits", cat(tinyJPEG(0x33), []byte{0xFF, markerSOI, 0xFF, markerEOI}), len(a) - 1,
			[][]byte{{0xFF, markerSOI, 0xFF, markerEOI}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, step := range []int{len(tt.in), 1, 7} {
				f := newFramer(tt.max)
				got, dropped := cut(f, tt.in, step)
				if !equalFrames(got, tt.want) || dropped != tt.dropped {
					t.Errorf("step %d: %d frames (%d dropped), want %d (%d)", step, len(got), dropped, len(tt.want), tt.dropped)
				}
				if cap(f.buf) > tt.max {
					t.Errorf("step %d: buffer grew to %d bytes, over %d", step, cap(f.buf), tt.max)
				}
			}
		})
	}
}

// TestFramer_endlessFrame feeds an SOI and then 8 MiB of entropy data that
// never ends: the framer keeps no more than its cap.
func TestFramer_endlessFrame(t *testing.T) {
	f := newFramer(64 << 10)
	f.feed(seg(markerSOS, []byte{1, 1, 0, 0, 63, 0}))
	chunk := bytes.Repeat([]byte{0x5A, 0xFF, 0x00}, 10000)
	f.feed([]byte{0xFF, markerSOI})
	f.feed(seg(markerSOS, []byte{1, 1, 0, 0, 63, 0}))
	for range 8 << 20 / len(chunk) {
		if n, found := f.feed(chunk); n != len(chunk) || found != foundNothing {
			t.Fatalf("feed = %d, %d", n, found)
		}
	}
	if cap(f.buf) > 64<<10 {
		t.Fatalf("buffer grew to %d bytes", cap(f.buf))
	}
	if _, found := f.feed([]byte{0xFF, markerEOI}); found != foundOversized {
		t.Fatalf("end of the endless frame: found %d, want oversized", found)
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func equalFrames(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func FuzzFramer(f *testing.F) {
	f.Add(cat(tinyJPEG(1), []byte("junk"), tinyJPEG(2)), uint8(3))
	f.Add(tinyJPEG(0xFF)[:20], uint8(0))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		const maxFrame = 256
		whole, wd := cut(newFramer(maxFrame), in, max(len(in), 1))
		fr := newFramer(maxFrame)
		pieces, pd := cut(fr, in, int(chunk%31)+1)
		if !equalFrames(whole, pieces) || wd != pd {
			t.Fatalf("chunking changed the result: %d/%d frames, %d/%d dropped", len(whole), len(pieces), wd, pd)
		}
		if cap(fr.buf) > maxFrame {
			t.Fatalf("buffer grew to %d bytes", cap(fr.buf))
		}
		for _, fm := range whole {
			if len(fm) < 4 || len(fm) > maxFrame || !bytes.HasPrefix(fm, []byte{0xFF, markerSOI}) || !bytes.HasSuffix(fm, []byte{0xFF, markerEOI}) {
				t.Fatalf("frame % x is no SOI..EOI within the cap", fm)
			}
		}
	})
}
