package pn532

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// Frames as UM0701-02 and the field show them, written out by hand.
var (
	getFirmwareVersion = []byte{0x00, 0x00, 0xFF, 0x02, 0xFE, 0xD4, 0x02, 0x2A, 0x00}
	firmwareResponse   = []byte{0x00, 0x00, 0xFF, 0x06, 0xFA, 0xD5, 0x03, 0x32, 0x01, 0x06, 0x07, 0xE8, 0x00}
	errorFrameBytes    = []byte{0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F, 0x81, 0x00}
)

func TestAppendFrame(t *testing.T) {
	tests := []struct {
		name string
		tfi  byte
		data []byte
		want []byte
	}{
		{"GetFirmwareVersion", tfiHost, []byte{0x02}, getFirmwareVersion},
		{"firmware response", tfiPN532, []byte{0x03, 0x32, 0x01, 0x06, 0x07}, firmwareResponse},
		// As sent by a host on the NXP community forum, thread 474941.
		{"InListPassiveTarget", tfiHost, []byte{0x4A, 0x01, 0x00},
			[]byte{0x00, 0x00, 0xFF, 0x04, 0xFC, 0xD4, 0x4A, 0x01, 0x00, 0xE1, 0x00}},
		{"error frame", tfiError, nil, errorFrameBytes},
	}
	for _, tt := range tests {
		if got := appendFrame(nil, tt.tfi, tt.data); !bytes.Equal(got, tt.want) {
			t.Errorf("%s: appendFrame = % X, want % X", tt.name, got, tt.want)
		}
	}
}

func TestAppendFrame_extended(t *testing.T) {
	data := bytes.Repeat([]byte{0xAB}, 299)
	b := appendFrame(nil, tfiPN532, data)
	// 00 00 FF FF FF LENM LENL LCS: 300 = 0x012C, LCS = -(0x01 + 0x2C).
	if want := []byte{0x00, 0x00, 0xFF, 0xFF, 0xFF, 0x01, 0x2C, 0xD3}; !bytes.HasPrefix(b, want) {
		t.Fatalf("header % X, want % X", b[:8], want)
	}
	if len(b) != 8+300+2 {
		t.Errorf("length %d", len(b))
	}
}

func TestParse(t *testing.T) {
	ext := appendFrame(nil, tfiPN532, append([]byte{0x4B}, bytes.Repeat([]byte{0x11}, 263)...))
	badDCS := bytes.Clone(firmwareResponse)
	badDCS[11]++
	badLCS := bytes.Clone(firmwareResponse)
	badLCS[4]++
	tooLong := []byte{0x00, 0x00, 0xFF, 0xFF, 0xFF, 0x01, 0x0A, 0xF5} // 266 bytes
	tests := []struct {
		name string
		in   []byte
		kind kind
		data []byte // for an information frame, after TFI
		n    int
		err  error
	}{
		{"ack", ackFrame, ackKind, nil, 5, nil},
		{"nack", nackFrame, nackKind, nil, 5, nil},
		{"error frame", errorFrameBytes, errorFrame, nil, 7, nil},
		{"info", firmwareResponse, infoFrame, firmwareResponse[6:11], 12, nil},
		{"garbage first", append([]byte{0x55, 0xAA, 0xFF, 0x01}, ackFrame...), ackKind, nil, 9, nil},
		{"long preamble", append([]byte{0, 0, 0, 0}, ackFrame...), ackKind, nil, 9, nil},
		{"extended", ext, infoFrame, ext[9 : len(ext)-2], len(ext) - 1, nil},
		{"no start code", []byte{0x55, 0xAA, 0xFF, 0x01}, 0, nil, 4, errShort},
		{"half a start code kept", []byte{0x55, 0xAA, 0x00}, 0, nil, 2, errShort},
		{"cut short", firmwareResponse[:8], 0, nil, 1, errShort},
		{"extended header cut short", ext[:6], 0, nil, 1, errShort},
		{"bad DCS", badDCS, 0, nil, 12, errChecksum},
		{"bad LCS", badLCS, 0, nil, 3, errLength},
		{"zero length", []byte{0x00, 0x00, 0xFF, 0x00, 0x00, 0xD5}, 0, nil, 3, errLength},
		{"over the cap", tooLong, 0, nil, 3, errLength},
		{"empty", nil, 0, nil, 0, errShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, n, err := parse(tt.in)
			if !errors.Is(err, tt.err) || n != tt.n {
				t.Fatalf("parse = n %d, err %v; want n %d, err %v", n, err, tt.n, tt.err)
			}
			if err != nil {
				return
			}
			if f.kind != tt.kind || !bytes.Equal(f.data, tt.data) {
				t.Errorf("parse = %+v, want kind %d data % X", f, tt.kind, tt.data)
			}
		})
	}
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []byte
		err  bool
	}{
		{"none", []byte{0x00}, nil, false},
		{"4-byte UID", []byte{0x01, 0x01, 0x00, 0x04, 0x08, 0x04, 0xDE, 0xAD, 0xBE, 0xEF}, []byte{0xDE, 0xAD, 0xBE, 0xEF}, false},
		{"7-byte UID and ATS", []byte{0x01, 0x01, 0x03, 0x44, 0x20, 0x07, 1, 2, 3, 4, 5, 6, 7, 0x06, 0x75, 0x77, 0x81, 0x02, 0x80}, []byte{1, 2, 3, 4, 5, 6, 7}, false},
		{"empty", nil, nil, true},
		{"cut short", []byte{0x01, 0x01, 0x00, 0x04}, nil, true},
		{"odd length", []byte{0x01, 0x01, 0x00, 0x04, 0x08, 0x05, 1, 2, 3, 4, 5}, nil, true},
		{"UID cut short", []byte{0x01, 0x01, 0x00, 0x04, 0x08, 0x07, 1, 2, 3}, nil, true},
	}
	for _, tt := range tests {
		got, err := parseTarget(tt.in)
		if (err != nil) != tt.err || !bytes.Equal(got, tt.want) {
			t.Errorf("%s: parseTarget = % X, %v", tt.name, got, err)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err %v does not wrap ErrCorrupt", tt.name, err)
		}
	}
}

func TestTaps(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	steps := []struct {
		ms   int
		uid  string
		want bool
	}{
		{0, "", false},
		{100, "A1", true},
		{200, "A1", false}, // resting
		{300, "", false},   // missed from here
		{500, "A1", false}, // back within the gap
		{600, "", false},
		{1500, "", false},
		{1700, "A1", true}, // away for 1.1 s: a new tap
		{1800, "B2", true}, // another card at once
		{1900, "A1", true},
	}
	tp := taps{gap: time.Second}
	for _, s := range steps {
		if got := tp.see(s.uid, at(s.ms)); got != s.want {
			t.Errorf("at %d ms, see(%q) = %v, want %v", s.ms, s.uid, got, s.want)
		}
	}
}

func FuzzFrame(f *testing.F) {
	f.Add(firmwareResponse, byte(0xD5))
	f.Add(errorFrameBytes, byte(0x7F))
	f.Add(append(bytes.Repeat([]byte{0x00, 0xFF}, 3), ackFrame...), byte(0xD4))
	f.Add(appendFrame(nil, tfiPN532, bytes.Repeat([]byte{0x42}, 280)), byte(0xD5))
	f.Fuzz(func(t *testing.T, in []byte, tfi byte) {
		// Any input: no panic, progress, bounded frames.
		for b := in; len(b) > 0; {
			f, n, err := parse(b)
			if n < 0 || n > len(b) {
				t.Fatalf("parse used %d of %d bytes", n, len(b))
			}
			if errors.Is(err, errShort) {
				if n == 0 {
					break // needs more bytes
				}
			} else if n == 0 {
				t.Fatalf("parse made no progress: %v", err)
			}
			if err == nil && len(f.data) >= maxData {
				t.Fatalf("frame of %d bytes passed the cap", len(f.data))
			}
			b = b[n:]
		}
		// A frame we build parses back to what we put in, and a cut-short
		// one asks for more.
		data := in[:min(len(in), maxData-1)]
		b := appendFrame(nil, tfi, data)
		f, n, err := parse(b)
		if tfi == tfiError && len(data) == 0 {
			if err != nil || f.kind != errorFrame {
				t.Fatalf("error frame parsed as %+v, %v", f, err)
			}
			return
		}
		if err != nil || f.kind != infoFrame || f.tfi != tfi || !bytes.Equal(f.data, data) || n != len(b)-1 {
			t.Fatalf("round trip of % X: %+v, n %d, %v", b, f, n, err)
		}
		if _, _, err := parse(b[:len(b)-2]); !errors.Is(err, errShort) {
			t.Fatalf("cut-short frame: %v, want errShort", err)
		}
	})
}

func TestNew_badOpts(t *testing.T) {
	for _, o := range []Opts{{Gap: -time.Second}, {Interval: -1}, {Retries: -1}} {
		if _, err := New(nil, &o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}
