package evdev

import (
	"fmt"

	"venuebox/device"
)

// Key codes from the kernel's include/uapi/linux/input-event-codes.h that
// the typist treats specially. The character keys are in usKeys.
const (
	keyEnter      = 28
	keyLeftCtrl   = 29
	keyLeftShift  = 42
	keyRightShift = 54
	keyLeftAlt    = 56
	keyCapsLock   = 58
	keyKPEnter    = 96
	keyRightCtrl  = 97
	keyRightAlt   = 100
	keyLeftMeta   = 125
	keyRightMeta  = 126
)

// usKeys maps a key code to the character it types on a US keyboard, without
// and with shift. A zero means the key types nothing the driver accepts.
// It covers the Base45 alphabet of ticket codes (0-9, A-Z, space and
// $ % * + - . / :) and the rest of printable ASCII; keypad keys type their
// digits and operators as if NumLock were on, which is how scanners use them.
var usKeys = [...][2]byte{
	2: {'1', '!'}, 3: {'2', '@'}, 4: {'3', '#'}, 5: {'4', '$'}, 6: {'5', '%'},
	7: {'6', '^'}, 8: {'7', '&'}, 9: {'8', '*'}, 10: {'9', '('}, 11: {'0', ')'},
	12: {'-', '_'}, 13: {'=', '+'},
	16: {'q', 'Q'}, 17: {'w', 'W'}, 18: {'e', 'E'}, 19: {'r', 'R'}, 20: {'t', 'T'},
	21: {'y', 'Y'}, 22: {'u', 'U'}, 23: {'i', 'I'}, 24: {'o', 'O'}, 25: {'p', 'P'},
	26: {'[', '{'}, 27: {']', '}'},
	30: {'a', 'A'}, 31: {'s', 'S'}, 32: {'d', 'D'}, 33: {'f', 'F'}, 34: {'g', 'G'},
	35: {'h', 'H'}, 36: {'j', 'J'}, 37: {'k', 'K'}, 38: {'l', 'L'},
	39: {';', ':'}, 40: {'\'', '"'}, 41: {'`', '~'}, 43: {'\\', '|'},
	44: {'z', 'Z'}, 45: {'x', 'X'}, 46: {'c', 'C'}, 47: {'v', 'V'}, 48: {'b', 'B'},
	49: {'n', 'N'}, 50: {'m', 'M'},
	51: {',', '<'}, 52: {'.', '>'}, 53: {'/', '?'},
	55: {'*', '*'}, 57: {' ', ' '},
	71: {'7', '7'}, 72: {'8', '8'}, 73: {'9', '9'}, 74: {'-', '-'},
	75: {'4', '4'}, 76: {'5', '5'}, 77: {'6', '6'}, 78: {'+', '+'},
	79: {'1', '1'}, 80: {'2', '2'}, 81: {'3', '3'}, 82: {'0', '0'}, 83: {'.', '.'},
	98: {'/', '/'},
}

// Modifier bits the typist tracks.
const (
	modLeftShift = 1 << iota
	modRightShift
	modCtrl
	modAlt
	modMeta
)

// modifiers maps modifier key codes to their bit.
var modifiers = map[uint16]uint8{
	keyLeftShift: modLeftShift, keyRightShift: modRightShift,
	keyLeftCtrl: modCtrl, keyRightCtrl: modCtrl,
	keyLeftAlt: modAlt, keyRightAlt: modAlt,
	keyLeftMeta: modMeta, keyRightMeta: modMeta,
}

// typist turns key events into codes, as a US keyboard layout would type
// them. A code ends with Enter; it holds at most maxLen bytes.
type typist struct {
	maxLen int
	mods   uint8
	caps   bool

	buf  []byte
	keys int   // key presses in the current code, typed or not
	bad  error // why the current code is unreadable, if it is
}

func newTypist(maxLen int) *typist {
	return &typist{maxLen: maxLen, buf: make([]byte, 0, min(maxLen, 512))}
}

// event takes one event. It reports done when a code ended: the code, or an
// error wrapping device.ErrUnreadable.
func (t *typist) event(e event) (code string, done bool, err error) {
	switch {
	case e.typ == evSyn && e.code == synDropped:
		// The kernel's queue overflowed and events were lost: the code
		// being typed has holes, and a release may be among the lost.
		t.mods = 0
		t.mark(fmt.Errorf("evdev: events dropped by the kernel (SYN_DROPPED): %w", device.ErrUnreadable))
		return "", false, nil
	case e.typ != evKey:
		return "", false, nil
	}
	if bit, ok := modifiers[e.code]; ok {
		switch e.value {
		case valuePress:
			t.mods |= bit
		case valueRelease:
			t.mods &^= bit
		}
		return "", false, nil
	}
	// Releases say nothing, and autorepeats are ignored: a scanner types a
	// code in tens of milliseconds, far below the kernel's 250 ms repeat
	// delay, so a repeat means a stalled key whose press already counted.
	if e.value != valuePress {
		return "", false, nil
	}
	switch e.code {
	case keyEnter, keyKPEnter:
		return t.end()
	case keyCapsLock:
		t.caps = !t.caps
		return "", false, nil
	}
	t.keys++
	var c byte
	if int(e.code) < len(usKeys) {
		shifted := t.mods&(modLeftShift|modRightShift) != 0
		c = usKeys[e.code][0]
		if t.caps && c >= 'a' && c <= 'z' {
			shifted = !shifted
		}
		if shifted {
			c = usKeys[e.code][1]
		}
	}
	switch {
	case c == 0:
		t.mark(fmt.Errorf("evdev: key %d types no character: %w", e.code, device.ErrUnreadable))
	case t.mods&(modCtrl|modAlt|modMeta) != 0:
		t.mark(fmt.Errorf("evdev: key %d with ctrl, alt or meta held: %w", e.code, device.ErrUnreadable))
	case len(t.buf) >= t.maxLen:
		t.mark(fmt.Errorf("evdev: code longer than %d bytes: %w", t.maxLen, device.ErrUnreadable))
	case t.bad == nil:
		t.buf = append(t.buf, c)
	}
	return "", false, nil
}

// mark makes the current code unreadable, keeping the first reason.
func (t *typist) mark(err error) {
	if t.bad == nil {
		t.bad = err
		t.buf = t.buf[:0]
	}
}

// end completes the current code. An Enter with nothing before it is no scan.
func (t *typist) end() (string, bool, error) {
	code, err := string(t.buf), t.bad
	empty := t.keys == 0 && err == nil
	t.reset()
	if empty {
		return "", false, nil
	}
	if err != nil {
		return "", true, err
	}
	return code, true, nil
}

// pending reports whether part of a code has been typed.
func (t *typist) pending() bool { return t.keys > 0 || t.bad != nil }

// reset drops the current code. Modifier state is kept: it follows the keys.
func (t *typist) reset() {
	t.buf, t.keys, t.bad = t.buf[:0], 0, nil
}
