package manifest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"venuebox/cmd/internal/ticket"
)

var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize))

func testPub() ed25519.PublicKey { return testKey.Public().(ed25519.PublicKey) }

// sample builds a snapshot with real codes, sealed holders and one card.
func sample(t testing.TB) *Manifest {
	t.Helper()
	m := &Manifest{
		Format:   Format,
		Event:    Event{ID: "ev-1", Name: "客户答谢日", Venue: "sh-pudong", Zones: []string{"VIP"}, Classes: []Class{{Name: "gold", Benefit: "lounge"}}},
		Kind:     KindSnapshot,
		Version:  1,
		IssuedAt: time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC),
		CardKey:  bytes.Repeat([]byte{9}, CardKeySize),
	}
	for i, name := range []string{"张三丰", "李四"} {
		code, err := ticket.Sign(testKey, ticket.Claims{Event: m.Event.ID, Number: uint64(i + 1), Zone: "VIP"})
		if err != nil {
			t.Fatal(err)
		}
		h := ticket.Holder{Name: name, Phone: "13812345678"}
		sealed, err := ticket.Seal(code, h)
		if err != nil {
			t.Fatal(err)
		}
		m.Tickets = append(m.Tickets, Ticket{
			ID: strconv.Itoa(i + 1), CodeHash: ticket.CodeHash(code), Class: "gold", Zone: "VIP",
			NameMasked: ticket.MaskName(name), PhoneMasked: ticket.MaskPhone(h.Phone), Holder: sealed,
		})
	}
	uid := "04:A1:B2:C3"
	sealed, err := ticket.Seal(ticket.NormalizeUID(uid), ticket.Holder{Name: "张三丰"})
	if err != nil {
		t.Fatal(err)
	}
	m.Cards = []Card{{UIDHash: ticket.CardHash(m.CardKey, uid), Ticket: "1", Holder: sealed}}
	return m
}

func TestSignParse_roundTrip(t *testing.T) {
	m := sample(t)
	data, err := Sign(testKey, m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(data, ticket.NewKeyring(testPub()))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(m)
	have, _ := json.Marshal(got)
	if !bytes.Equal(want, have) {
		t.Errorf("round trip changed the manifest:\n got %s\nwant %s", have, want)
	}
	path := filepath.Join(t.TempDir(), "manifest.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path, ticket.NewKeyring(testPub())); err != nil {
		t.Errorf("ReadFile: %v", err)
	}
	if _, err := ReadFile(path+".missing", ticket.NewKeyring(testPub())); err == nil {
		t.Error("ReadFile of a missing file succeeded")
	}
}

func TestParse_unknownKey(t *testing.T) {
	data, err := Sign(testKey, sample(t))
	if err != nil {
		t.Fatal(err)
	}
	// Draw keys until one's id differs from the signer's: a shared 2-byte id
	// (1 in 65,536) would rightly give ErrBadSignature instead.
	var other ed25519.PublicKey
	for other == nil || ticket.KeyIDOf(other) == ticket.KeyIDOf(testPub()) {
		other, _, err = ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Parse(data, ticket.NewKeyring(other)); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Parse with another key trusted: %v, want ErrUnknownKey", err)
	}
	if _, err := Parse(data, nil); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Parse with no keyring: %v, want ErrUnknownKey", err)
	}
}

// TestParse_forgedBody replaces the body by another valid manifest (one more
// ticket revoked, say) and keeps the original signature.
func TestParse_forgedBody(t *testing.T) {
	m := sample(t)
	data, err := Sign(testKey, m)
	if err != nil {
		t.Fatal(err)
	}
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	m.Revoked = []string{"2"}
	env.Body, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(forged, ticket.NewKeyring(testPub())); !errors.Is(err, ErrBadSignature) {
		t.Errorf("forged body: %v, want ErrBadSignature", err)
	}
	// The same body re-indented: the bytes differ, so the signature no
	// longer holds even though the meaning is the same.
	var indented bytes.Buffer
	var orig envelope
	if err := json.Unmarshal(data, &orig); err != nil {
		t.Fatal(err)
	}
	if err := json.Indent(&indented, orig.Body, "", " "); err != nil {
		t.Fatal(err)
	}
	// Built by hand: json.Marshal would compact a RawMessage again.
	reshaped := []byte(`{"key_id":"` + orig.KeyID + `","body":` + indented.String() + `,"sig":"` + orig.Sig + `"}`)
	if _, err := Parse(reshaped, ticket.NewKeyring(testPub())); !errors.Is(err, ErrBadSignature) {
		t.Errorf("re-indented body: %v, want ErrBadSignature", err)
	}
}

// TestParse_everyByteChanged changes each byte of the file in turn; none of
// the results may parse.
func TestParse_everyByteChanged(t *testing.T) {
	data, err := Sign(testKey, sample(t))
	if err != nil {
		t.Fatal(err)
	}
	k := ticket.NewKeyring(testPub())
	for i := range data {
		if data[i] == '\n' {
			continue // the trailing newline is outside the envelope
		}
		changed := append([]byte(nil), data...)
		changed[i] ^= 0x01
		if _, err := Parse(changed, k); err == nil {
			t.Fatalf("byte %d (%q) changed to %q: still parses", i, data[i], changed[i])
		}
	}
}

func TestParse_malformed(t *testing.T) {
	k := ticket.NewKeyring(testPub())
	good, err := Sign(testKey, sample(t))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"empty":         nil,
		"not json":      []byte("hello"),
		"array":         []byte("[]"),
		"extra field":   bytes.Replace(good, []byte(`{"key_id"`), []byte(`{"x":1,"key_id"`), 1),
		"trailing data": append(append([]byte(nil), good...), []byte("{}")...),
		"bad key id":    []byte(`{"key_id":"zz","body":{},"sig":"` + base64.StdEncoding.EncodeToString(make([]byte, 64)) + `"}`),
		"short sig":     []byte(`{"key_id":"abcd","body":{},"sig":"AAAA"}`),
		"no body":       []byte(`{"key_id":"abcd","sig":"` + base64.StdEncoding.EncodeToString(make([]byte, 64)) + `"}`),
	}
	for name, data := range cases {
		if _, err := Parse(data, k); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if _, err := Parse(make([]byte, MaxSize+1), k); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v, want ErrTooLarge", err)
	}
}

// signBody signs arbitrary body bytes, bypassing Sign's validation, to show
// that Parse validates signed bodies too.
func signBody(t *testing.T, body []byte) []byte {
	t.Helper()
	env := envelope{KeyID: ticket.KeyIDOf(testPub()).String(), Body: body, Sig: base64.StdEncoding.EncodeToString(ed25519.Sign(testKey, body))}
	data, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestValidate(t *testing.T) {
	bad := map[string]func(m *Manifest){
		"format 2":            func(m *Manifest) { m.Format = 2 },
		"no event id":         func(m *Manifest) { m.Event.ID = "" },
		"version 0":           func(m *Manifest) { m.Version = 0 },
		"kind":                func(m *Manifest) { m.Kind = "full" },
		"snapshot with base":  func(m *Manifest) { m.Base = 1 },
		"snapshot removes":    func(m *Manifest) { m.Removed = []string{"1"} },
		"delta without base":  func(m *Manifest) { m.Kind = KindDelta; m.Version = 2 },
		"delta base too high": func(m *Manifest) { m.Kind = KindDelta; m.Version = 2; m.Base = 2 },
		"duplicate id":        func(m *Manifest) { m.Tickets[1].ID = m.Tickets[0].ID },
		"duplicate hash":      func(m *Manifest) { m.Tickets[1].CodeHash = m.Tickets[0].CodeHash },
		"bad hash":            func(m *Manifest) { m.Tickets[0].CodeHash = "ABC" },
		"empty ticket id":     func(m *Manifest) { m.Tickets[0].ID = "" },
		"unknown zone":        func(m *Manifest) { m.Tickets[0].Zone = "B" },
		"unknown class":       func(m *Manifest) { m.Tickets[0].Class = "silver" },
		"short card key":      func(m *Manifest) { m.CardKey = m.CardKey[:16] },
		"cards without key":   func(m *Manifest) { m.CardKey = nil },
		"card to nowhere":     func(m *Manifest) { m.Cards[0].Ticket = "99" },
		"duplicate card":      func(m *Manifest) { m.Cards = append(m.Cards, m.Cards[0]) },
		"duplicate revoked":   func(m *Manifest) { m.Revoked = []string{"1", "1"} },
		"control character":   func(m *Manifest) { m.Tickets[0].NameMasked = "张\n*" },
		"reversed window": func(m *Manifest) {
			m.Tickets[0].From = m.IssuedAt
			m.Tickets[0].Until = m.IssuedAt.Add(-time.Hour)
		},
		"changed and removed": func(m *Manifest) {
			m.Kind, m.Version, m.Base, m.Removed = KindDelta, 2, 1, []string{"1"}
		},
	}
	k := ticket.NewKeyring(testPub())
	for name, spoil := range bad {
		m := sample(t)
		spoil(m)
		if err := m.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
		if _, err := Sign(testKey, m); err == nil {
			t.Errorf("%s: Sign accepted it", name)
		}
		body, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(signBody(t, body), k); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Parse = %v, want ErrInvalid", name, err)
		}
	}
	delta := sample(t)
	delta.Kind, delta.Version, delta.Base = KindDelta, 3, 2
	delta.Cards[0].Ticket = "7" // a delta may link a card to a ticket of an earlier version
	delta.Removed = []string{"5"}
	if err := delta.Validate(); err != nil {
		t.Errorf("valid delta rejected: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	m := sample(f)
	good, err := Sign(testKey, m)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"key_id":"abcd","body":{},"sig":""}`))
	f.Add([]byte(`{}`))
	k := ticket.NewKeyring(testPub())
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Parse(data, k)
		if err != nil {
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("Parse returned an invalid manifest: %v", err)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	m := sample(b)
	base := m.Tickets[0]
	m.Cards = nil
	m.Tickets = nil
	for i := range 10000 {
		tk := base
		tk.ID = strconv.Itoa(i + 1)
		tk.CodeHash = ticket.CodeHash(tk.ID)
		m.Tickets = append(m.Tickets, tk)
	}
	data, err := Sign(testKey, m)
	if err != nil {
		b.Fatal(err)
	}
	k := ticket.NewKeyring(testPub())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data, k); err != nil {
			b.Fatal(err)
		}
	}
}
