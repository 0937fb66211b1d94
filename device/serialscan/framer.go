package serialscan

import (
	"bytes"
	"fmt"
	"unicode"
	"unicode/utf8"

	"venuebox/device"
)

// Suffix is what a scanner sends after each code.
type Suffix int

// The suffixes scanners are programmed with.
const (
	// SuffixCR ends a code with a carriage return (0x0D). A line feed right
	// after it is ignored, so a scanner sending CRLF still works.
	SuffixCR Suffix = iota
	// SuffixLF ends a code with a line feed (0x0A); a carriage return just
	// before it is dropped.
	SuffixLF
	// SuffixCRLF ends a code with CR LF.
	SuffixCRLF
	// SuffixNone sends no terminator: a code ends when the line has been
	// quiet for Opts.Gap.
	SuffixNone
)

var suffixNames = [...]string{"cr", "lf", "crlf", "none"}

// String returns the suffix's configuration name: cr, lf, crlf or none.
func (s Suffix) String() string {
	if s < 0 || int(s) >= len(suffixNames) {
		return fmt.Sprintf("Suffix(%d)", int(s))
	}
	return suffixNames[s]
}

// ParseSuffix parses a configuration name (cr, lf, crlf, none).
func ParseSuffix(s string) (Suffix, error) {
	for i, n := range suffixNames {
		if n == s {
			return Suffix(i), nil
		}
	}
	return 0, fmt.Errorf("serialscan: unknown suffix %q (want cr, lf, crlf or none)", s)
}

// framer cuts a byte stream into codes. It holds at most maxLen bytes.
type framer struct {
	suffix   Suffix
	maxLen   int
	stripAIM bool

	buf      []byte
	overflow bool // the current line passed maxLen and was reported
	afterCR  bool // the previous byte ended a line with CR
}

func newFramer(s Suffix, maxLen int, stripAIM bool) *framer {
	return &framer{suffix: s, maxLen: maxLen, stripAIM: stripAIM, buf: make([]byte, 0, min(maxLen, 512))}
}

// feed consumes bytes from p until one code is complete. It returns how many
// bytes it consumed and, when done, the code or an error wrapping
// device.ErrUnreadable.
func (f *framer) feed(p []byte) (n int, code string, done bool, err error) {
	for i, c := range p {
		end := false
		switch {
		case f.suffix == SuffixCR && c == '\r':
			end = true
		case f.suffix == SuffixCR && c == '\n' && f.afterCR:
			f.afterCR = false
			continue
		case (f.suffix == SuffixLF || f.suffix == SuffixCRLF) && c == '\n':
			end = true
			if len(f.buf) > 0 && f.buf[len(f.buf)-1] == '\r' {
				f.buf = f.buf[:len(f.buf)-1]
			}
		}
		f.afterCR = false
		if end {
			f.afterCR = c == '\r'
			wasOver := f.overflow
			f.overflow = false
			if wasOver {
				f.buf = f.buf[:0]
				continue
			}
			if len(f.buf) == 0 {
				continue // an empty line is no scan
			}
			code, err := f.take()
			return i + 1, code, true, err
		}
		if f.overflow {
			continue
		}
		if len(f.buf) >= f.maxLen {
			f.overflow = f.suffix != SuffixNone
			f.buf = f.buf[:0]
			return i + 1, "", true, fmt.Errorf("serialscan: code longer than %d bytes: %w", f.maxLen, device.ErrUnreadable)
		}
		f.buf = append(f.buf, c)
	}
	return len(p), "", false, nil
}

// pending reports whether part of a code is buffered.
func (f *framer) pending() bool { return len(f.buf) > 0 || f.overflow }

// end completes the buffered bytes as a code (the quiet gap of SuffixNone).
func (f *framer) end() (string, error) {
	if f.overflow {
		f.overflow = false
		f.buf = f.buf[:0]
		return "", nil
	}
	return f.take()
}

// drop discards a partial line that never got its terminator.
func (f *framer) drop() error {
	n := len(f.buf)
	over := f.overflow
	f.buf, f.overflow = f.buf[:0], false
	if over {
		return nil
	}
	return fmt.Errorf("serialscan: %d bytes without a %s terminator: %w", n, f.suffix, device.ErrUnreadable)
}

func (f *framer) take() (string, error) {
	b := f.buf
	f.buf = f.buf[:0]
	if f.stripAIM {
		b = stripAIM(b)
	}
	if err := validate(b); err != nil {
		return "", err
	}
	return string(b), nil
}

// stripAIM removes an AIM symbology identifier ("]Q1" for QR, "]C0" for
// Code 128, ...): a ']', a code letter and a modifier character.
func stripAIM(b []byte) []byte {
	if len(b) >= 3 && b[0] == ']' && isAlpha(b[1]) && (isAlpha(b[2]) || b[2] >= '0' && b[2] <= '9') {
		return b[3:]
	}
	return b
}

func isAlpha(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }

// validate rejects what cannot be a code: nothing, invalid UTF-8, control
// characters.
func validate(b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("serialscan: empty code: %w", device.ErrUnreadable)
	}
	if !utf8.Valid(b) {
		return fmt.Errorf("serialscan: code is not UTF-8: %w", device.ErrUnreadable)
	}
	if i := bytes.IndexFunc(b, unicode.IsControl); i >= 0 {
		r, _ := utf8.DecodeRune(b[i:])
		return fmt.Errorf("serialscan: control character %U at byte %d: %w", r, i, device.ErrUnreadable)
	}
	return nil
}
