package ticket

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func newKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

// fullClaims is the largest usual code: zone, an 11-day window, number < 16384.
func fullClaims() Claims {
	from := time.Date(2029, 12, 1, 9, 0, 0, 0, time.UTC)
	return Claims{Event: "briefing-2029-12", Number: 16383, Zone: "VIP", From: from, Until: from.Add(11 * 24 * time.Hour)}
}

func TestSignVerify_roundTrip(t *testing.T) {
	pub, priv := newKey(t)
	k := NewKeyring(pub)
	cases := []Claims{
		{Event: "e1", Number: 1},
		{Event: "e1", Number: 1 << 40},
		{Event: "家族办公室研讨会", Number: 42, Zone: "A"},
		fullClaims(),
		{Event: "e2", Number: 7, From: Epoch, Until: Epoch.Add(time.Minute)},
	}
	for _, c := range cases {
		code, err := Sign(priv, c)
		if err != nil {
			t.Fatalf("Sign(%+v): %v", c, err)
		}
		if !IsSigned(code) || len(code) > MaxLen {
			t.Fatalf("code %q: prefix or length wrong", code)
		}
		p, err := k.Verify(code)
		if err != nil {
			t.Fatalf("Verify(Sign(%+v)): %v", c, err)
		}
		if p.Key != KeyIDOf(pub) || !p.ForEvent(c.Event) || p.Number != c.Number || p.TicketID() == "" {
			t.Errorf("Verify(Sign(%+v)) = %+v", c, p)
		}
		if p.HasZone != (c.Zone != "") || (c.Zone != "" && (!p.ValidIn(c.Zone) || p.Zone != ZoneTag(c.Zone))) {
			t.Errorf("zone of %+v: got %+v", c, p)
		}
		if !p.From.Equal(c.From) || !p.Until.Equal(c.Until) {
			t.Errorf("window of %+v: got %v..%v", c, p.From, p.Until)
		}
	}
}

func TestSign_usualCodeFits(t *testing.T) {
	_, priv := newKey(t)
	code, err := Sign(priv, fullClaims())
	if err != nil {
		t.Fatal(err)
	}
	if len(code) != MaxLen {
		t.Errorf("largest usual code is %d characters, want %d (the documented worst case)", len(code), MaxLen)
	}
	c := fullClaims()
	c.From = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	c.Until = c.From.Add(24 * time.Hour)
	if _, err := Sign(priv, c); err == nil {
		t.Error("Sign accepted a code longer than MaxLen")
	}
}

func TestSign_rejectsBadClaims(t *testing.T) {
	_, priv := newKey(t)
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	bad := map[string]Claims{
		"no event":      {Number: 1},
		"number 0":      {Event: "e"},
		"from only":     {Event: "e", Number: 1, From: now},
		"until only":    {Event: "e", Number: 1, Until: now},
		"empty window":  {Event: "e", Number: 1, From: now, Until: now},
		"reversed":      {Event: "e", Number: 1, From: now, Until: now.Add(-time.Hour)},
		"before epoch":  {Event: "e", Number: 1, From: Epoch.Add(-time.Hour), Until: now},
		"far in future": {Event: "e", Number: 1, From: now, Until: now.Add(200 * 365 * 24 * time.Hour)},
	}
	for name, c := range bad {
		if code, err := Sign(priv, c); err == nil {
			t.Errorf("%s: Sign = %q, want error", name, code)
		}
	}
	if _, err := Sign(priv[:10], Claims{Event: "e", Number: 1}); err == nil {
		t.Error("Sign accepted a short private key")
	}
}

func TestSign_roundsWindowOutward(t *testing.T) {
	pub, priv := newKey(t)
	from := time.Date(2026, 3, 1, 9, 0, 30, 0, time.FixedZone("CST", 8*3600))
	until := from.Add(100 * time.Second) // 09:00:30..09:02:10 covers 09:00..09:03
	code, err := Sign(priv, Claims{Event: "e", Number: 1, From: from, Until: until})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewKeyring(pub).Verify(code)
	if err != nil {
		t.Fatal(err)
	}
	if p.From.After(from) || p.Until.Before(until) || p.Until.Sub(p.From) != 3*time.Minute {
		t.Errorf("window %v..%v does not cover %v..%v by whole minutes", p.From, p.Until, from, until)
	}
}

// TestVerify_everySingleCharacterChange flips each character of a code to
// every other character the scanner could deliver; none may verify.
func TestVerify_everySingleCharacterChange(t *testing.T) {
	pub, priv := newKey(t)
	k := NewKeyring(pub)
	code, err := Sign(priv, fullClaims())
	if err != nil {
		t.Fatal(err)
	}
	alphabet := base45Alphabet + "abcxyz\x00\n"
	tried := 0
	for i := 0; i < len(code); i++ {
		for j := 0; j < len(alphabet); j++ {
			if alphabet[j] == code[i] {
				continue
			}
			changed := code[:i] + string(alphabet[j]) + code[i+1:]
			tried++
			if p, err := k.Verify(changed); err == nil {
				t.Fatalf("changed code at %d to %q verified: %+v", i, alphabet[j], p)
			}
		}
	}
	if tried < len(code)*len(base45Alphabet)-len(code) {
		t.Fatalf("only %d changes tried", tried)
	}
}

func TestVerify_truncatedAndExtended(t *testing.T) {
	pub, priv := newKey(t)
	k := NewKeyring(pub)
	code, err := Sign(priv, fullClaims())
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(code); n++ {
		_, err := k.Verify(code[:n])
		if err == nil {
			t.Fatalf("code truncated to %d verified", n)
		}
		if n >= len(Prefix) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSignature) {
			t.Errorf("truncated to %d: %v, want malformed or bad signature", n, err)
		}
	}
	for _, extra := range []string{"0", "00", "000", " ", "\n"} {
		if _, err := k.Verify(code + extra); err == nil {
			t.Errorf("code + %q verified", extra)
		}
	}
	if _, err := k.Verify(strings.Repeat("0", 10000)); !errors.Is(err, ErrNotSigned) {
		t.Errorf("long unsigned input: %v, want ErrNotSigned", err)
	}
	if _, err := k.Verify(Prefix + strings.Repeat("0", 10000)); !errors.Is(err, ErrMalformed) {
		t.Errorf("long signed input: %v, want ErrMalformed", err)
	}
}

func TestVerify_untrustedKey(t *testing.T) {
	pub, _ := newKey(t)
	trusted := NewKeyring(pub)
	// A key id has only 16 bits, so a fresh key shares the trusted key's id
	// once in 65,536 tries; such a key would (rightly) give ErrBadSignature,
	// not ErrUnknownKey. Draw again until the ids differ so the test checks
	// what it names.
	var other ed25519.PrivateKey
	for {
		p, priv := newKey(t)
		if len(trusted.Keys(KeyIDOf(p))) == 0 {
			other = priv
			break
		}
	}
	code, err := Sign(other, Claims{Event: "e", Number: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trusted.Verify(code); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Verify(code by untrusted key) = %v, want ErrUnknownKey", err)
	}
	var nilRing *Keyring
	if _, err := nilRing.Verify(code); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("nil keyring: %v, want ErrUnknownKey", err)
	}
}

// TestVerify_sharedKeyID checks that keys colliding on the 2-byte id are all
// tried: a keyring holding a same-id impostor first still verifies.
func TestVerify_sharedKeyID(t *testing.T) {
	pub, priv := newKey(t)
	code, err := Sign(priv, Claims{Event: "e", Number: 3})
	if err != nil {
		t.Fatal(err)
	}
	// Forge the collision inside the keyring rather than search 2^16 keys.
	other, _ := newKey(t)
	k := NewKeyring()
	k.byID[KeyIDOf(pub)] = []ed25519.PublicKey{other, pub}
	if _, err := k.Verify(code); err != nil {
		t.Errorf("second key with the same id not tried: %v", err)
	}
	k.byID[KeyIDOf(pub)] = []ed25519.PublicKey{other}
	if _, err := k.Verify(code); !errors.Is(err, ErrBadSignature) {
		t.Errorf("only an impostor with the id: %v, want ErrBadSignature", err)
	}
}

func TestVerify_notSigned(t *testing.T) {
	pub, _ := newKey(t)
	for _, code := range []string{"", "VB", "vb1ABC", "HC1:6BF", "abcdefghjkmnpq"} {
		if _, err := NewKeyring(pub).Verify(code); !errors.Is(err, ErrNotSigned) {
			t.Errorf("Verify(%q) = %v, want ErrNotSigned", code, err)
		}
	}
}

func TestKeyring(t *testing.T) {
	a, _ := newKey(t)
	b, _ := newKey(t)
	k := NewKeyring(a, b, a, ed25519.PublicKey{1, 2, 3})
	if k.Len() != 2 {
		t.Errorf("Len = %d, want 2 (duplicate and short key left out)", k.Len())
	}
	got := k.Keys(KeyIDOf(a))
	if len(got) == 0 || !got[0].Equal(a) {
		t.Fatalf("Keys(id of a) = %v", got)
	}
	got[0] = b // the caller's copy
	if !k.Keys(KeyIDOf(a))[0].Equal(a) {
		t.Error("Keys returned the keyring's own slice")
	}
}

func TestKeyIDString(t *testing.T) {
	pub, _ := newKey(t)
	id := KeyIDOf(pub)
	s := id.String()
	if len(s) != 4 {
		t.Fatalf("String = %q", s)
	}
	back, err := ParseKeyID(s)
	if err != nil || back != id {
		t.Errorf("ParseKeyID(%q) = %v, %v", s, back, err)
	}
	for _, bad := range []string{"", "abc", "abcde", "zzzz"} {
		if _, err := ParseKeyID(bad); err == nil {
			t.Errorf("ParseKeyID(%q) succeeded", bad)
		}
	}
}

func TestGenerateKey(t *testing.T) {
	dir := t.TempDir()
	id, err := GenerateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := LoadPrivateKey(dir + "/" + PrivateKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublicKey(dir + "/" + PublicKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if KeyIDOf(pub) != id || !pub.Equal(priv.Public()) {
		t.Error("loaded keys do not match the generated id")
	}
	fi, err := os.Lstat(dir + "/" + PrivateKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := GenerateKey(dir); err == nil {
		t.Error("GenerateKey overwrote an existing key")
	}
	if again, _ := LoadPrivateKey(dir + "/" + PrivateKeyFile); !bytes.Equal(again, priv) {
		t.Error("the existing key changed")
	}
	if _, err := LoadPrivateKey(dir + "/" + PublicKeyFile); err == nil {
		t.Error("LoadPrivateKey read a public key")
	}
	if _, err := LoadPublicKey(dir + "/" + PrivateKeyFile); err == nil {
		t.Error("LoadPublicKey read a private key")
	}
	if _, err := LoadPublicKey(dir + "/missing"); err == nil {
		t.Error("LoadPublicKey read a missing file")
	}
}

func TestHashes(t *testing.T) {
	a, b := "VB1ABC", "VB1ABD"
	if CodeHash(a) == CodeHash(b) || len(CodeHash(a)) != 64 {
		t.Error("CodeHash")
	}
	if LogID(a) == LogID(b) || len(LogID(a)) != 8 || strings.HasPrefix(CodeHash(a), LogID(a)) {
		t.Errorf("LogID(%q) = %q", a, LogID(a))
	}
	key := []byte("0123456789abcdef0123456789abcdef")
	if CardHash(key, "04:a1:b2:c3") != CardHash(key, "04A1B2C3") || CardHash(key, "04 a1 b2 c3") != CardHash(key, "04-A1-B2-C3") {
		t.Error("CardHash does not normalise the UID")
	}
	if CardHash(key, "04A1B2C3") == CardHash([]byte("other key"), "04A1B2C3") || CardHash(key, "04A1B2C3") == CardHash(key, "04A1B2C4") {
		t.Error("CardHash ignores its key or UID")
	}
}
