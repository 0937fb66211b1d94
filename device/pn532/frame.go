package pn532

import (
	"bytes"
	"errors"
)

// Frame identifiers (TFI), UM0701-02 §6.2.1.1.
const (
	tfiHost  = 0xD4 // a frame from the host controller to the PN532
	tfiPN532 = 0xD5 // a frame from the PN532 to the host controller
	tfiError = 0x7F // the syntax error frame, §6.2.1.5
)

// maxData is the longest TFI + PD0..PDn the firmware sends or takes: 265
// bytes, in an extended frame (§6.2.1.2). Longer lengths are refused
// before anything is buffered for them.
const maxData = 265

// maxFrame is the longest frame from its start code on: 00 FF, the
// extended length header, maxData bytes, DCS.
const maxFrame = 2 + 5 + maxData + 1

var (
	startCode = []byte{0x00, 0xFF}
	// ackFrame tells the other side the previous frame arrived; from the
	// host it also aborts the command in progress (§6.2.1.3).
	ackFrame = []byte{0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00}
	// nackFrame asks the PN532 to send its last response again (§6.2.1.4).
	nackFrame = []byte{0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00}
	// wakeUp brings the PN532 out of power down, or out of the low-battery
	// mode it starts in, over HSU: 0x55 0x55 and a long preamble (UM0701-02,
	// PowerDown; libnfc's pn532_uart.c sends the same 16 bytes).
	wakeUp = []byte{0x55, 0x55, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
)

// kind tells the frames apart.
type kind uint8

const (
	infoFrame  kind = iota // an information frame: tfi and data
	ackKind                // ACK
	nackKind               // NACK
	errorFrame             // the syntax error frame
)

func (k kind) String() string {
	return [...]string{"info", "ack", "nack", "error"}[k]
}

// frame is one frame as parsed.
type frame struct {
	kind kind
	tfi  byte
	// data is PD0..PDn of an information frame, the command or response
	// code first. It aliases the parsed buffer.
	data []byte
}

// Results of parse other than a frame.
var (
	errShort    = errors.New("incomplete frame")
	errLength   = errors.New("bad frame length or length checksum")
	errChecksum = errors.New("bad frame data checksum")
)

// parse finds the first frame in b and returns it with the number of bytes
// of b it used, garbage and preamble before it included. It never reads
// past b and never allocates.
//
// With errShort, b holds no complete frame: the caller drops b[:n] (bytes
// that cannot start one) and reads more. With errLength (LEN and LCS do not
// add up to zero, or the length is 0 or over maxData) only the start code is
// dropped, since the length cannot be trusted; with errChecksum (TFI, data
// and DCS do not add up to zero) the whole damaged frame is. Either way the
// next call resynchronises on the next start code.
func parse(b []byte) (f frame, n int, err error) {
	i := bytes.Index(b, startCode)
	if i < 0 {
		// Keep a trailing 0x00: it may be the first half of a start code.
		if len(b) > 0 && b[len(b)-1] == 0x00 {
			return frame{}, len(b) - 1, errShort
		}
		return frame{}, len(b), errShort
	}
	p := b[i+2:]
	if len(p) < 2 {
		return frame{}, i, errShort
	}
	switch {
	case p[0] == 0x00 && p[1] == 0xFF:
		return frame{kind: ackKind}, i + 4, nil
	case p[0] == 0xFF && p[1] == 0x00:
		return frame{kind: nackKind}, i + 4, nil
	}
	hdr, length := 2, int(p[0])
	switch {
	case p[0] == 0xFF && p[1] == 0xFF: // extended: LENM LENL LCS follow
		if len(p) < 5 {
			return frame{}, i, errShort
		}
		if p[2]+p[3]+p[4] != 0 {
			return frame{}, i + 2, errLength
		}
		hdr, length = 5, int(p[2])<<8|int(p[3])
	case p[0]+p[1] != 0:
		return frame{}, i + 2, errLength
	}
	if length == 0 || length > maxData {
		return frame{}, i + 2, errLength
	}
	if len(p) < hdr+length+1 {
		return frame{}, i, errShort
	}
	body := p[hdr : hdr+length]
	n = i + 2 + hdr + length + 1
	if sum(body)+p[hdr+length] != 0 {
		return frame{}, n, errChecksum
	}
	if body[0] == tfiError && length == 1 {
		return frame{kind: errorFrame}, n, nil
	}
	return frame{kind: infoFrame, tfi: body[0], data: body[1:]}, n, nil
}

// appendFrame appends an information frame carrying tfi and data to dst:
// a normal frame, or an extended one when tfi and data pass 255 bytes.
// len(data) must be below maxData.
func appendFrame(dst []byte, tfi byte, data []byte) []byte {
	n := 1 + len(data)
	dst = append(dst, 0x00, 0x00, 0xFF)
	if n <= 0xFF {
		dst = append(dst, byte(n), -byte(n))
	} else {
		m, l := byte(n>>8), byte(n)
		dst = append(dst, 0xFF, 0xFF, m, l, -(m + l))
	}
	dst = append(dst, tfi)
	dst = append(dst, data...)
	return append(dst, -(tfi + sum(data)), 0x00)
}

func sum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}
