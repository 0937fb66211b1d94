package mlx90614

import "fmt"

// Reading limits, in °C. The chip measures objects from −70 to 380 °C, but a
// forehead at a gate, and the chip's own ambient sensor (specified for −40
// to 125 °C), can only be in this range: anything outside it is a misread.
const (
	MinC = -40.0
	MaxC = 125.0
)

// errorFlag is bit 15 of a RAM temperature word: set, the chip reports that
// its linearised temperature is invalid ("The MSb read from RAM is an error
// flag (active high) for the linearized temperatures", Melexis application
// note "SMBus communication with MLX90614").
const errorFlag = 0x8000

// pec returns the SMBus Packet Error Code of msg: CRC-8 with polynomial
// x⁸+x²+x+1 (0x07), initial value 0, no reflection, no final XOR.
func pec(msg ...byte) byte {
	var c byte
	for _, b := range msg {
		c ^= b
		for range 8 {
			if c&0x80 != 0 {
				c = c<<1 ^ 0x07
			} else {
				c <<= 1
			}
		}
	}
	return c
}

// decode checks the three bytes r (LSB, MSB, PEC) the chip at addr returned
// for command cmd and returns the temperature they hold, in °C. The PEC
// covers the whole transaction as it went over the wire: the address byte
// with the write bit, the command, the address byte with the read bit, then
// the two data bytes.
func decode(addr uint16, cmd byte, r []byte) (float64, error) {
	if len(r) != 3 {
		return 0, fmt.Errorf("mlx90614: read %s: got %d bytes, want 3", regName(cmd), len(r))
	}
	a := byte(addr << 1)
	if want := pec(a, cmd, a|1, r[0], r[1]); r[2] != want {
		return 0, fmt.Errorf("%w on %s: got 0x%02x, want 0x%02x", ErrPEC, regName(cmd), r[2], want)
	}
	raw := uint16(r[1])<<8 | uint16(r[0])
	if raw&errorFlag != 0 {
		return 0, fmt.Errorf("%w in %s word 0x%04x", ErrFlag, regName(cmd), raw)
	}
	// 0.02 K per LSB: T = raw×0.02 − 273.15 °C, computed in hundredths so
	// that a whole number of LSBs gives the nearest float64 to its value.
	c := float64(int(raw)*2-27315) / 100
	if c < MinC || c > MaxC {
		return 0, fmt.Errorf("%w: %s %.2f °C (word 0x%04x) not within %g..%g °C", ErrRange, regName(cmd), c, raw, MinC, MaxC)
	}
	return c, nil
}

// regName names a RAM register for error messages.
func regName(cmd byte) string {
	switch cmd {
	case cmdObject:
		return "object (0x07)"
	case cmdAmbient:
		return "ambient (0x06)"
	}
	return fmt.Sprintf("register 0x%02x", cmd)
}
