package ticket

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"
)

// fuzzKey is fixed so that fuzz inputs stay meaningful between runs.
var fuzzKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

func FuzzVerify(f *testing.F) {
	k := NewKeyring(fuzzKey.Public().(ed25519.PublicKey))
	from := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	for _, c := range []Claims{
		{Event: "e", Number: 1},
		{Event: "e", Number: 300, Zone: "A"},
		{Event: "e", Number: 99999, Zone: "B", From: from, Until: from.Add(time.Hour)},
	} {
		code, err := Sign(fuzzKey, c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(code)
	}
	f.Add("VB1")
	f.Add("VB1:::")
	f.Add("HC1:ABC")
	f.Fuzz(func(t *testing.T, code string) {
		p, err := k.Verify(code)
		if err != nil {
			return
		}
		// What verifies must be exactly what the signer wrote: re-encoding
		// the fields with the signature gives the same code back.
		raw := p.appendPayload(nil)
		sig := ed25519.Sign(fuzzKey, append([]byte(Prefix), raw...))
		if again := Prefix + encodeBase45(append(raw, sig...)); again != code {
			t.Fatalf("code %q verified as %+v but re-encodes to %q", code, p, again)
		}
	})
}

func FuzzBase45(f *testing.F) {
	for _, s := range []string{"", "AB", "QED8WEX0", "%69 VD92EX0", "GGW", "::", "zz", "A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := decodeBase45(s)
		if err != nil {
			return
		}
		if again := encodeBase45(b); again != s {
			t.Fatalf("decode(%q) = %x re-encodes to %q", s, b, again)
		}
		if back, err := decodeBase45(encodeBase45([]byte(s))); err != nil || string(back) != s {
			t.Fatalf("round trip of bytes %q: %q, %v", s, back, err)
		}
	})
}

// TestBase45_RFC9285 checks the RFC's own examples.
func TestBase45_RFC9285(t *testing.T) {
	cases := []struct{ plain, enc string }{
		{"AB", "BB8"},
		{"Hello!!", "%69 VD92EX0"},
		{"base-45", "UJCLQE7W581"},
		{"ietf!", "QED8WEX0"},
	}
	for _, c := range cases {
		if got := encodeBase45([]byte(c.plain)); got != c.enc {
			t.Errorf("encode(%q) = %q, want %q", c.plain, got, c.enc)
		}
		if got, err := decodeBase45(c.enc); err != nil || string(got) != c.plain {
			t.Errorf("decode(%q) = %q, %v", c.enc, got, err)
		}
	}
	for _, bad := range []string{"GGW", "A", "ABCD", "bb8", "::", "BB\n"} {
		if got, err := decodeBase45(bad); err == nil {
			t.Errorf("decode(%q) = %q, want error", bad, got)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	k := NewKeyring(fuzzKey.Public().(ed25519.PublicKey))
	code, err := Sign(fuzzKey, fullClaims())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Verify(code); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	c := fullClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(fuzzKey, c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodePNG(b *testing.B) {
	code, err := Sign(fuzzKey, fullClaims())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodePNG(code, 300); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodePNG(b *testing.B) {
	code, err := Sign(fuzzKey, fullClaims())
	if err != nil {
		b.Fatal(err)
	}
	data, err := EncodePNG(code, 300)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodePNG(data); err != nil {
			b.Fatal(err)
		}
	}
}
