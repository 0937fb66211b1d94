package camera

import "bytes"

// JPEG markers (ITU-T T.81 table B.1) the framer tells apart.
const (
	markerSOI = 0xD8 // start of image
	markerEOI = 0xD9 // end of image
	markerSOS = 0xDA // start of scan: entropy-coded data follows its header
	markerTEM = 0x01 // standalone, like the restart markers RST0-RST7
	markerRST = 0xD0
)

// Framer states.
const (
	stHunt      = iota // outside a frame, looking for 0xFF
	stHuntFF           // outside a frame, after 0xFF: is it SOI?
	stMarker           // between segments, expecting 0xFF
	stMarkerFF         // between segments, after 0xFF
	stLenHi            // first byte of a segment's length
	stLenLo            // second byte of a segment's length
	stSegment          // inside a segment's body
	stEntropy          // in entropy-coded data, looking for 0xFF
	stEntropyFF        // in entropy-coded data, after 0xFF
)

// What feed found.
const (
	foundNothing   = iota
	foundFrame     // a whole frame, in framer.frame
	foundOversized // a frame larger than the cap went by and was dropped
)

// framer cuts an MJPEG stream (JPEG images back to back, as rpicam-vid
// --codec mjpeg and ffmpeg -f mjpeg write them) into frames. It follows the
// marker structure instead of searching for the EOI bytes, so an EXIF
// thumbnail's own SOI/EOI inside an APP1 segment does not end the frame;
// bytes between frames are skipped, and a new SOI inside a frame's data
// starts over at it (a frame cut short inside a segment header takes the
// next frame down with it, no more). It holds at most max bytes: a larger
// frame is skipped to its EOI and reported.
type framer struct {
	max   int
	buf   []byte
	state int
	sos   bool // the segment being read is SOS, so entropy data follows it
	left  int  // bytes of the current segment's body still to come
	over  bool // the current frame passed max and is being skipped
}

func newFramer(max int) *framer {
	return &framer{max: max, buf: make([]byte, 0, min(max, 256<<10))}
}

// feed consumes bytes from p until a frame ends. It returns how many bytes
// it consumed and what it found; a frame stays in f.buf until the next feed.
func (f *framer) feed(p []byte) (int, int) {
	i := 0
	for i < len(p) {
		switch f.state {
		case stHunt:
			j := bytes.IndexByte(p[i:], 0xFF)
			if j < 0 {
				return len(p), foundNothing
			}
			i += j + 1
			f.state = stHuntFF
			continue
		case stSegment:
			n := min(f.left, len(p)-i)
			f.keep(p[i : i+n])
			i += n
			f.left -= n
			if f.left == 0 {
				f.endSegment()
			}
			continue
		case stEntropy:
			j := bytes.IndexByte(p[i:], 0xFF)
			if j < 0 {
				f.keep(p[i:])
				return len(p), foundNothing
			}
			f.keep(p[i : i+j+1])
			i += j + 1
			f.state = stEntropyFF
			continue
		}
		c := p[i]
		i++
		if found := f.byte(c); found != foundNothing {
			return i, found
		}
	}
	return i, foundNothing
}

// byte advances the states that look at one byte at a time.
func (f *framer) byte(c byte) int {
	switch f.state {
	case stHuntFF:
		switch c {
		case markerSOI:
			f.start()
		case 0xFF:
		default:
			f.state = stHunt
		}
	case stMarker:
		if c != 0xFF {
			f.resync() // not a marker where one must be: not a JPEG after all
			return foundNothing
		}
		f.keep1(c)
		f.state = stMarkerFF
	case stMarkerFF, stEntropyFF:
		return f.marker(c)
	case stLenHi:
		f.keep1(c)
		f.left = int(c) << 8
		f.state = stLenLo
	case stLenLo:
		f.keep1(c)
		f.left |= int(c)
		if f.left < 2 {
			f.resync()
			return foundNothing
		}
		f.left -= 2
		if f.left == 0 {
			f.endSegment()
		} else {
			f.state = stSegment
		}
	}
	return foundNothing
}

// marker handles the byte after 0xFF inside a frame.
func (f *framer) marker(c byte) int {
	inEntropy := f.state == stEntropyFF
	switch {
	case c == 0xFF: // fill byte: still after 0xFF
		f.keep1(c)
	case c == markerSOI: // the frame so far was cut short: start again here
		f.start()
	case c == markerEOI:
		f.keep1(c)
		return f.end()
	case inEntropy && (c == 0x00 || c >= markerRST && c <= markerRST+7):
		f.keep1(c) // stuffed 0xFF or restart marker: still entropy data
		f.state = stEntropy
	case c == markerTEM || c >= markerRST && c <= markerRST+7:
		f.keep1(c)
		f.state = stMarker
	case c == 0x00:
		f.resync()
	default: // a segment with a length: DQT, DHT, SOF, SOS, APPn, COM...
		f.keep1(c)
		f.sos = c == markerSOS
		f.state = stLenHi
	}
	return foundNothing
}

func (f *framer) endSegment() {
	if f.sos {
		f.state = stEntropy
	} else {
		f.state = stMarker
	}
}

// start begins a frame at an SOI.
func (f *framer) start() {
	f.buf = append(f.buf[:0], 0xFF, markerSOI)
	f.over = false
	f.state = stMarker
}

// end completes the frame at its EOI.
func (f *framer) end() int {
	over := f.over
	f.resync()
	if over {
		return foundOversized
	}
	return foundFrame
}

// resync leaves the current frame and hunts for the next SOI. f.buf keeps
// a completed frame until the next start.
func (f *framer) resync() {
	f.state = stHunt
	f.over = false
}

func (f *framer) keep1(c byte) { f.keep([]byte{c}) }

// keep appends b to the frame, growing the buffer to at most max bytes.
func (f *framer) keep(b []byte) {
	if f.over {
		return
	}
	n := len(f.buf) + len(b)
	if n > f.max {
		f.overflow()
		return
	}
	if n > cap(f.buf) {
		nb := make([]byte, len(f.buf), min(f.max, max(n, 2*cap(f.buf))))
		copy(nb, f.buf)
		f.buf = nb
	}
	f.buf = append(f.buf, b...)
}

// overflow drops the frame's bytes; the frame is followed to its end.
func (f *framer) overflow() {
	f.over = true
	f.buf = f.buf[:0]
}

// frame returns the frame feed found last.
func (f *framer) frame() []byte { return f.buf }
