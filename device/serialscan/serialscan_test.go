package serialscan

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"venuebox/device"
	"venuebox/device/ptytest"
	"venuebox/device/serialport"
)

type result struct {
	code       string
	unreadable bool
}

func feedAll(f *framer, in []byte) []result {
	var out []result
	for len(in) > 0 {
		n, code, done, err := f.feed(in)
		in = in[n:]
		if done {
			out = append(out, result{code, errors.Is(err, device.ErrUnreadable)})
		}
	}
	return out
}

func TestFramer(t *testing.T) {
	long := strings.Repeat("A", 20)
	tests := []struct {
		name   string
		suffix Suffix
		in     string
		want   []result
	}{
		{"cr", SuffixCR, "ABC\rDEF\r", []result{{"ABC", false}, {"DEF", false}}},
		{"crlf sent to cr", SuffixCR, "ABC\r\nDEF\r\n", []result{{"ABC", false}, {"DEF", false}}},
		{"lf", SuffixLF, "ABC\nDEF\n", []result{{"ABC", false}, {"DEF", false}}},
		{"crlf sent to lf", SuffixLF, "ABC\r\n", []result{{"ABC", false}}},
		{"crlf", SuffixCRLF, "ABC\r\nDEF\r\n", []result{{"ABC", false}, {"DEF", false}}},
		{"empty lines skipped", SuffixCR, "\r\r\rX\r", []result{{"X", false}}},
		{"aim qr", SuffixCR, "]Q1VB1.abc\r", []result{{"VB1.abc", false}}},
		{"aim code128", SuffixCR, "]C0123\r", []result{{"123", false}}},
		{"bracket kept", SuffixCR, "]12\r", []result{{"]12", false}}},
		{"utf8", SuffixCR, "张三\r", []result{{"张三", false}}},
		{"control", SuffixCR, "AB\x01C\rOK\r", []result{{"", true}, {"OK", false}}},
		{"tab", SuffixCR, "A\tB\r", []result{{"", true}}},
		{"lf inside cr line", SuffixCR, "AB\nC\r", []result{{"", true}}},
		{"bad utf8", SuffixCR, "A\xff\xfeB\r", []result{{"", true}}},
		{"c1 control", SuffixCR, "A\u0085B\r", []result{{"", true}}},
		{"too long then next", SuffixCR, long + "\rOK\r", []result{{"", true}, {"OK", false}}},
		{"exactly max", SuffixCR, long[:16] + "\r", []result{{long[:16], false}}},
		{"none gives nothing until gap", SuffixNone, "ABC", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole and byte by byte must agree.
			whole := feedAll(newFramer(tt.suffix, 16, true), []byte(tt.in))
			f := newFramer(tt.suffix, 16, true)
			var bytewise []result
			for i := 0; i < len(tt.in); i++ {
				bytewise = append(bytewise, feedAll(f, []byte{tt.in[i]})...)
			}
			if !equal(whole, tt.want) {
				t.Errorf("whole: got %+v, want %+v", whole, tt.want)
			}
			if !equal(bytewise, tt.want) {
				t.Errorf("byte by byte: got %+v, want %+v", bytewise, tt.want)
			}
		})
	}
}

func equal(a, b []result) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseSuffix(t *testing.T) {
	for _, s := range []Suffix{SuffixCR, SuffixLF, SuffixCRLF, SuffixNone} {
		got, err := ParseSuffix(s.String())
		if err != nil || got != s {
			t.Errorf("ParseSuffix(%q) = %v, %v", s.String(), got, err)
		}
	}
	if _, err := ParseSuffix("tab"); err == nil {
		t.Error("ParseSuffix(tab) succeeded")
	}
}

// openPort opens the slave end of p at 115200 baud, as the box does.
func openPort(t testing.TB, p *ptytest.Pair) *serialport.Port {
	t.Helper()
	port, err := serialport.Open(p.Path, &serialport.Opts{Baud: 115200, ReadTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { port.Close() })
	return port
}

func scan(t *testing.T, d *Dev) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return d.Scan(ctx)
}

func TestScan_pty(t *testing.T) {
	p := ptytest.New(t)
	d, err := New(openPort(t, p), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.String(), "serialscan{") || !strings.Contains(d.String(), "tty") {
		t.Errorf("String() = %q", d.String())
	}
	p.Write([]byte("]Q1VB1.first\r"))
	p.Write([]byte("VB1.sec"))
	p.Write([]byte("ond\r\nBAD\x07\r"))
	for _, want := range []string{"VB1.first", "VB1.second"} {
		got, err := scan(t, d)
		if err != nil || got != want {
			t.Fatalf("Scan = %q, %v; want %q", got, err, want)
		}
	}
	if _, err := scan(t, d); !errors.Is(err, device.ErrUnreadable) {
		t.Fatalf("Scan of a BEL code: err = %v, want unreadable", err)
	}
}

func TestScan_noSuffixGap(t *testing.T) {
	p := ptytest.New(t)
	d, err := New(openPort(t, p), &Opts{Suffix: SuffixNone, Gap: 50 * time.Millisecond, MaxLen: 64})
	if err != nil {
		t.Fatal(err)
	}
	p.Write([]byte("CODE-1"))
	got, err := scan(t, d)
	if err != nil || got != "CODE-1" {
		t.Fatalf("Scan = %q, %v", got, err)
	}
	p.Write([]byte("CODE-2"))
	got, err = scan(t, d)
	if err != nil || got != "CODE-2" {
		t.Fatalf("Scan = %q, %v", got, err)
	}
}

func TestScan_staleDropped(t *testing.T) {
	p := ptytest.New(t)
	d, err := New(openPort(t, p), &Opts{Suffix: SuffixCR, Stale: 200 * time.Millisecond, MaxLen: 64})
	if err != nil {
		t.Fatal(err)
	}
	p.Write([]byte("HALF"))
	if _, err := scan(t, d); !errors.Is(err, device.ErrUnreadable) {
		t.Fatalf("unterminated code: err = %v, want unreadable", err)
	}
	p.Write([]byte("WHOLE\r"))
	if got, err := scan(t, d); err != nil || got != "WHOLE" {
		t.Fatalf("Scan = %q, %v", got, err)
	}
}

func TestScan_floodBounded(t *testing.T) {
	p := ptytest.New(t)
	d, err := New(openPort(t, p), &Opts{Suffix: SuffixCR, MaxLen: 64})
	if err != nil {
		t.Fatal(err)
	}
	go p.Write(bytes.Repeat([]byte{0xAA}, 64*1024))
	if _, err := scan(t, d); !errors.Is(err, device.ErrUnreadable) {
		t.Fatalf("flood: err = %v, want unreadable", err)
	}
	if cap(d.f.buf) > 64 {
		t.Errorf("buffer grew to %d bytes under a flood", cap(d.f.buf))
	}
	go p.Write([]byte("\rAFTER\r"))
	if got, err := scan(t, d); err != nil || got != "AFTER" {
		t.Fatalf("after the flood: Scan = %q, %v", got, err)
	}
}

func TestScan_unplugged(t *testing.T) {
	p := ptytest.New(t)
	d, err := New(openPort(t, p), nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Unplug()
	_, err = scan(t, d)
	if err == nil || errors.Is(err, device.ErrUnreadable) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Scan on an unplugged port: err = %v, want the port gone", err)
	}
	if !errors.Is(err, serialport.ErrHangup) {
		t.Errorf("err = %v, want ErrHangup", err)
	}
}

func TestScan_contextEnds(t *testing.T) {
	p := ptytest.New(t)
	d, err := New(openPort(t, p), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if _, err := d.Scan(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

func FuzzFramer(f *testing.F) {
	f.Add([]byte("]Q1ABC\r\nDEF\r"), uint8(0), uint8(3))
	f.Add([]byte("A\xffB\n"), uint8(1), uint8(1))
	f.Add(bytes.Repeat([]byte("Z"), 100), uint8(3), uint8(7))
	f.Fuzz(func(t *testing.T, in []byte, suffix, chunk uint8) {
		s := Suffix(suffix % 4)
		const max = 32
		whole := feedAll(newFramer(s, max, true), in)
		fr := newFramer(s, max, true)
		var pieces []result
		step := int(chunk%16) + 1
		for i := 0; i < len(in); i += step {
			pieces = append(pieces, feedAll(fr, in[i:min(i+step, len(in))])...)
			if len(fr.buf) > max {
				t.Fatalf("buffer holds %d > %d bytes", len(fr.buf), max)
			}
		}
		if !equal(whole, pieces) {
			t.Fatalf("chunking changed the result: %+v vs %+v", whole, pieces)
		}
		for _, r := range whole {
			if r.unreadable {
				continue
			}
			if err := validate([]byte(r.code)); err != nil || len(r.code) > max {
				t.Fatalf("accepted bad code %q: %v", r.code, err)
			}
		}
	})
}

// BenchmarkScanLatency measures from the first byte of a 120-character code
// written on the device end of a pty to Scan returning it.
func BenchmarkScanLatency(b *testing.B) {
	p := ptytest.New(b)
	d, err := New(openPort(b, p), nil)
	if err != nil {
		b.Fatal(err)
	}
	line := append([]byte("]Q1"+strings.Repeat("x", 120)), '\r')
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Master().Write(line); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Scan(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
