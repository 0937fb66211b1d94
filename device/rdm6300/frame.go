package rdm6300

import (
	"bytes"
	"errors"
)

const (
	stx      = 0x02
	etx      = 0x03
	frameLen = 14 // STX, 10 hex digits of data, 2 of checksum, ETX
)

// Results of parse other than a tag.
var (
	errShort    = errors.New("incomplete frame")
	errNotHex   = errors.New("frame holds a byte that is not a hex digit")
	errNoETX    = errors.New("frame does not end with ETX")
	errChecksum = errors.New("frame checksum mismatch")
)

// parse finds the first frame in b: STX, ten hex digits for five data
// bytes (a version or customer code and the 32-bit tag number), two hex
// digits for their XOR, ETX. It returns the five bytes and the number of
// bytes of b it used, garbage before the frame included. It never
// allocates.
//
// With errShort, b holds no complete frame: the caller drops b[:n] and
// reads more. With another error the frame was damaged and only its STX is
// dropped, so the next call resynchronises on the next STX, which may lie
// inside what looked like a frame.
func parse(b []byte) (tag [5]byte, n int, err error) {
	i := bytes.IndexByte(b, stx)
	if i < 0 {
		return tag, len(b), errShort
	}
	f := b[i:]
	if len(f) < frameLen {
		return tag, i, errShort
	}
	var v [6]byte // the data bytes, then the checksum
	for k := range v {
		hi, ok1 := unhex(f[1+2*k])
		lo, ok2 := unhex(f[2+2*k])
		if !ok1 || !ok2 {
			return tag, i + 1, errNotHex
		}
		v[k] = hi<<4 | lo
	}
	if f[13] != etx {
		return tag, i + 1, errNoETX
	}
	if v[0]^v[1]^v[2]^v[3]^v[4] != v[5] {
		return tag, i + 1, errChecksum
	}
	copy(tag[:], v[:5])
	return tag, i + frameLen, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
