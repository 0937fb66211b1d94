package evdev

import (
	"encoding/binary"
	"strconv"
)

// The event types and values the driver reads (input-event-codes.h).
const (
	evSyn      = 0x00
	evKey      = 0x01
	synDropped = 3

	valueRelease = 0
	valuePress   = 1
)

// Sizes of struct input_event (include/uapi/linux/input.h): a struct timeval
// of two longs, then __u16 type, __u16 code, __s32 value. The kernel writes
// the layout of the reading process's ABI, so a 32-bit program (GOARCH=arm,
// 386) reads 16-byte events even from a 64-bit kernel.
const (
	// EventSize64 is the event size for a 64-bit process (arm64, amd64).
	EventSize64 = 24
	// EventSize32 is the event size for a 32-bit process (arm, 386).
	EventSize32 = 16
)

// NativeEventSize is the size of struct input_event for this program.
const NativeEventSize = 2*strconv.IntSize/8 + 8

// event is the part of struct input_event the driver uses; the timestamp
// is skipped.
type event struct {
	typ   uint16
	code  uint16
	value int32
}

// decodeEvent reads the event in b, whose length is the event size. The
// kernel writes in the machine's byte order.
func decodeEvent(b []byte) event {
	t := b[len(b)-8:]
	return event{
		typ:   binary.NativeEndian.Uint16(t[0:]),
		code:  binary.NativeEndian.Uint16(t[2:]),
		value: int32(binary.NativeEndian.Uint32(t[4:])),
	}
}

// stream cuts bytes into events and feeds them to a typist. It holds at most
// one partial event, so a reader that splits events (a pipe may; an evdev
// node never does) is handled, at a bounded cost.
type stream struct {
	size int
	part [EventSize64]byte
	n    int // bytes of a partial event in part
	t    *typist
}

func newStream(size, maxLen int) *stream {
	return &stream{size: size, t: newTypist(maxLen)}
}

// feed consumes bytes from p until a code is complete. It returns how many
// bytes it consumed and, when done, the code or an error wrapping
// device.ErrUnreadable.
func (s *stream) feed(p []byte) (n int, code string, done bool, err error) {
	for n < len(p) {
		var e event
		if s.n > 0 || len(p)-n < s.size {
			k := copy(s.part[s.n:s.size], p[n:])
			s.n += k
			n += k
			if s.n < s.size {
				break
			}
			e = decodeEvent(s.part[:s.size])
			s.n = 0
		} else {
			e = decodeEvent(p[n : n+s.size])
			n += s.size
		}
		if code, done, err := s.t.event(e); done {
			return n, code, true, err
		}
	}
	return n, "", false, nil
}

// reset drops a partial event and the code being typed.
func (s *stream) reset() {
	s.n = 0
	s.t.reset()
}
