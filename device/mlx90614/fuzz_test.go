package mlx90614

import (
	"math"
	"testing"
)

// FuzzDecode feeds decode arbitrary answers. It must never panic, and what
// it accepts must be a three-byte answer whose PEC is right by the test's
// own long division, whose error flag is clear and whose temperature is the
// datasheet's formula and within range.
func FuzzDecode(f *testing.F) {
	f.Add(uint8(0x5a), uint8(0x07), []byte{0xd2, 0x3a, 0x30})
	f.Add(uint8(0x5a), uint8(0x06), []byte{0xdf, 0x3a, 0xcf})
	f.Add(uint8(0x5a), uint8(0x07), []byte{0xff, 0xff, 0xff})
	f.Add(uint8(0x00), uint8(0x07), []byte{})
	f.Add(uint8(0x7f), uint8(0x25), []byte{0x01, 0x02, 0x03, 0x04})
	f.Fuzz(func(t *testing.T, addr, cmd uint8, r []byte) {
		a := uint16(addr & 0x7f)
		c, err := decode(a, cmd, r)
		if err != nil {
			return
		}
		if len(r) != 3 {
			t.Fatalf("decode accepted %d bytes", len(r))
		}
		if want := crcDiv(byte(a<<1), cmd, byte(a<<1|1), r[0], r[1]); r[2] != want {
			t.Fatalf("decode accepted PEC %#02x, want %#02x", r[2], want)
		}
		raw := uint16(r[1])<<8 | uint16(r[0])
		if raw&0x8000 != 0 {
			t.Fatalf("decode accepted word %#04x with the error flag", raw)
		}
		if c < MinC || c > MaxC {
			t.Fatalf("decode accepted %v °C", c)
		}
		if want := float64(raw)*0.02 - 273.15; math.Abs(c-want) > 1e-9 {
			t.Fatalf("decode(%#04x) = %v °C, want %v", raw, c, want)
		}
	})
}
