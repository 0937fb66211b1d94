package ticket

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// CodeHash returns the hex SHA-256 of a code: the key under which a
// manifest lists a ticket, so that the box never stores codes themselves.
func CodeHash(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

// LogID returns 8 hex digits that name a code in logs. Codes are bearer
// secrets and never logged; the hash is domain-separated from CodeHash so a
// log line cannot be matched against a manifest's lookup keys.
func LogID(code string) string {
	sum := sha256.Sum256([]byte("venuebox log id\x00" + code))
	return hex.EncodeToString(sum[:4])
}

// NormalizeUID returns a card UID in its canonical form: upper-case hex
// without separators (spaces, ':' and '-' are dropped), so "04:a1:b2" and
// "04A1B2" name the same card. Card holder data is sealed under this form.
func NormalizeUID(uid string) string {
	var b strings.Builder
	b.Grow(len(uid))
	for _, r := range uid {
		switch {
		case r == ' ' || r == ':' || r == '-' || r == '\t':
		case r >= 'a' && r <= 'f':
			b.WriteRune(r - 'a' + 'A')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// CardHash returns the hex HMAC-SHA256 of the normalised card UID under the
// event's card key: a UID is short enough to guess, so a plain hash would not
// hide it.
func CardHash(key []byte, uid string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(NormalizeUID(uid)))
	return hex.EncodeToString(m.Sum(nil))
}
