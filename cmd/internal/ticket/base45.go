package ticket

import (
	"errors"
)

// base45Alphabet is RFC 9285's alphabet: exactly the 45 characters of QR
// alphanumeric mode, in value order.
const base45Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

// base45Value maps an input byte to its Base45 value, or -1.
var base45Value = func() (v [256]int8) {
	for i := range v {
		v[i] = -1
	}
	for i := 0; i < len(base45Alphabet); i++ {
		v[base45Alphabet[i]] = int8(i)
	}
	return v
}()

var errBase45 = errors.New("invalid base45")

// base45Len is the length of the Base45 encoding of n bytes.
func base45Len(n int) int { return n/2*3 + n%2*2 }

// appendBase45 appends the RFC 9285 encoding of src to dst: every two bytes
// become three characters, a final odd byte two.
func appendBase45(dst []byte, src []byte) []byte {
	for len(src) >= 2 {
		n := int(src[0])<<8 | int(src[1])
		dst = append(dst, base45Alphabet[n%45], base45Alphabet[n/45%45], base45Alphabet[n/2025])
		src = src[2:]
	}
	if len(src) == 1 {
		n := int(src[0])
		dst = append(dst, base45Alphabet[n%45], base45Alphabet[n/45])
	}
	return dst
}

// encodeBase45 returns the RFC 9285 encoding of src.
func encodeBase45(src []byte) string {
	return string(appendBase45(make([]byte, 0, base45Len(len(src))), src))
}

// decodeBase45 decodes RFC 9285 Base45. It accepts exactly the strings
// encodeBase45 produces: lower case, a dangling single character and
// triples or pairs whose value overflows are all rejected, so every byte
// string has one encoding and every accepted string decodes to one.
func decodeBase45(s string) ([]byte, error) {
	if len(s)%3 == 1 {
		return nil, errBase45
	}
	out := make([]byte, 0, len(s)/3*2+1)
	for len(s) > 0 {
		k := min(3, len(s))
		n := 0
		mul := 1
		for i := 0; i < k; i++ {
			v := base45Value[s[i]]
			if v < 0 {
				return nil, errBase45
			}
			n += int(v) * mul
			mul *= 45
		}
		if k == 3 {
			if n > 0xFFFF {
				return nil, errBase45
			}
			out = append(out, byte(n>>8), byte(n))
		} else {
			if n > 0xFF {
				return nil, errBase45
			}
			out = append(out, byte(n))
		}
		s = s[k:]
	}
	return out, nil
}
