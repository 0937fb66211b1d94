package ticket

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Holder is the personal data of a ticket's holder. On the box it exists
// only sealed ([Seal]) or masked ([MaskName], [MaskPhone]).
type Holder struct {
	Name  string `json:"name"`
	Phone string `json:"phone"`
}

// ErrSealed means sealed holder data did not open: wrong secret or damaged.
var ErrSealed = errors.New("ticket: holder data does not open with this secret")

const (
	sealVersion = 1
	// MaxSealed caps the size of sealed holder data that Open reads.
	MaxSealed = 4096
	sealInfo  = "venuebox holder v1"
)

// sealKey derives the AES-256 key for a secret.
func sealKey(secret string) (cipher.AEAD, error) {
	if secret == "" {
		return nil, errors.New("empty secret")
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, sealInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts h with AES-256-GCM under a key derived with HKDF-SHA256 from
// secret: a ticket's code, or a card's NormalizeUID. The box stores the
// result and can read it only when that code is scanned or that card
// tapped. A card UID has few bits, so sealing under it hides data from a
// casual reader of the disk, not from a determined one.
//
// Layout: version byte (1), 12-byte random nonce, ciphertext and tag; the
// version byte is authenticated.
func Seal(secret string, h Holder) ([]byte, error) {
	aead, err := sealKey(secret)
	if err != nil {
		return nil, fmt.Errorf("ticket: seal: %w", err)
	}
	plain, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("ticket: seal: %w", err)
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("ticket: seal: %w", err)
	}
	out = aead.Seal(out, out[1:], plain, out[:1])
	if len(out) > MaxSealed {
		return nil, fmt.Errorf("ticket: seal: %d bytes sealed, more than %d", len(out), MaxSealed)
	}
	return out, nil
}

// Open decrypts what Seal wrote under the same secret.
func Open(secret string, sealed []byte) (Holder, error) {
	var h Holder
	aead, err := sealKey(secret)
	if err != nil {
		return h, fmt.Errorf("ticket: open: %w", err)
	}
	if len(sealed) > MaxSealed || len(sealed) < 1+aead.NonceSize()+aead.Overhead() || sealed[0] != sealVersion {
		return h, fmt.Errorf("ticket: open: %w", ErrSealed)
	}
	nonce := sealed[1 : 1+aead.NonceSize()]
	plain, err := aead.Open(nil, nonce, sealed[1+aead.NonceSize():], sealed[:1])
	if err != nil {
		return h, fmt.Errorf("ticket: open: %w", ErrSealed)
	}
	if err := json.Unmarshal(plain, &h); err != nil {
		return h, fmt.Errorf("ticket: open: %w", err)
	}
	return h, nil
}

// MaskName masks a name for display, counting runes, not bytes. A name with
// Han characters and no spaces keeps its first and last character:
// 张三丰 → 张*丰, 欧阳娜娜 → 欧**娜, 张三 → 张*. Other names keep the first
// letter of each word and hide its length: Alice Wong → A*** W***. A single
// character becomes *.
func MaskName(name string) string {
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, strings.TrimSpace(name))
	words := strings.Fields(name)
	if len(words) == 0 {
		return ""
	}
	if len(words) == 1 && strings.ContainsFunc(name, func(r rune) bool { return unicode.Is(unicode.Han, r) }) {
		r := []rune(name)
		switch len(r) {
		case 1:
			return "*"
		case 2:
			return string(r[0]) + "*"
		default:
			return string(r[0]) + strings.Repeat("*", len(r)-2) + string(r[len(r)-1])
		}
	}
	for i, w := range words {
		r, _ := utf8.DecodeRuneInString(w)
		if utf8.RuneCountInString(w) == 1 && len(words) == 1 {
			words[i] = "*"
			continue
		}
		words[i] = string(r) + "***"
	}
	return strings.Join(words, " ")
}

// MaskPhone masks a phone number for display. Only its digits count; a
// leading "86" country code on a 13-digit number is dropped. Eleven digits
// or more keep the first 3 and last 4 (13812345678 → 138****5678); 7 to 10
// digits keep only the last 2 (****78); anything shorter, or with no digits,
// becomes ****. The empty string stays empty.
func MaskPhone(phone string) string {
	if strings.TrimSpace(phone) == "" {
		return ""
	}
	var d []byte
	for i := 0; i < len(phone); i++ {
		if c := phone[i]; c >= '0' && c <= '9' {
			d = append(d, c)
		}
	}
	if len(d) == 13 && string(d[:2]) == "86" {
		d = d[2:]
	}
	switch {
	case len(d) >= 11:
		return string(d[:3]) + "****" + string(d[len(d)-4:])
	case len(d) >= 7:
		return "****" + string(d[len(d)-2:])
	default:
		return "****"
	}
}
