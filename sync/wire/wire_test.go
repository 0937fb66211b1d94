package wire

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func sampleBatch(n int) *Batch {
	b := &Batch{Box: "gate-1", Sent: time.Unix(1700000000, 0).UTC()}
	for i := range n {
		b.CheckIns = append(b.CheckIns, CheckIn{Nonce: "n" + string(rune('a'+i%26)) + strings.Repeat("x", i%5),
			Box: "gate-1", Gate: "g1", Boot: 1, Seq: uint64(i + 1), Event: "ev-1", Ticket: "t1",
			Verdict: "admitted", Reason: "ok", At: time.Unix(1700000000, 0).UTC()})
	}
	return b
}

func TestEncodeDecode_roundTrip(t *testing.T) {
	in := sampleBatch(3)
	raw, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Batch
	if err := Decode(raw, &out); err != nil {
		t.Fatal(err)
	}
	if out.V != Version || len(out.CheckIns) != 3 || out.CheckIns[2].Seq != 3 || !out.Sent.Equal(in.Sent) {
		t.Fatalf("round trip: %+v", out)
	}
}

func TestDecode_rejects(t *testing.T) {
	good, err := Encode(sampleBatch(1))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		raw  []byte
		want error
	}{
		{"no version", []byte(`{"box":"gate-1"}`), ErrVersion},
		{"future version", bytes.Replace(good, []byte(`"v":1`), []byte(`"v":2`), 1), ErrVersion},
		{"not json", []byte(`{{`), ErrInvalid},
		{"too large", make([]byte, MaxMessage+1), ErrTooLarge},
		{"other box inside", bytes.Replace(good, []byte(`"box":"gate-1","gate"`), []byte(`"box":"gate-2","gate"`), 1), ErrInvalid},
		{"bad verdict", bytes.Replace(good, []byte(`"admitted"`), []byte(`"maybe"`), 1), ErrInvalid},
		{"seq zero", bytes.Replace(good, []byte(`"seq":1`), []byte(`"seq":0`), 1), ErrInvalid},
		{"empty", []byte(`{"v":1,"box":"gate-1","checkins":[]}`), ErrInvalid},
		{"wildcard box", []byte(`{"v":1,"box":"gate/#","checkins":[]}`), ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b Batch
			err := Decode(tc.raw, &b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestEncode_capsSize(t *testing.T) {
	b := sampleBatch(1)
	b.CheckIns[0].Note = strings.Repeat("x", maxText+1)
	if _, err := Encode(b); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Encode = %v, want ErrInvalid", err)
	}
	big := sampleBatch(MaxBatch)
	for i := range big.CheckIns {
		big.CheckIns[i].Note = strings.Repeat("y", maxText)
	}
	if _, err := Encode(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Encode = %v, want ErrTooLarge", err)
	}
}

func TestTopic_roundTrip(t *testing.T) {
	for _, s := range []string{
		BoxTopic("acme", "sh-pudong", "gate-1", KindCheckins),
		BoxTopic("acme", "sh-pudong", "gate-1", KindState),
		VenueTopic("acme", "sh-pudong", KindRevoke),
		VenueTopic("acme", "sh-pudong", KindManifest),
	} {
		tp, err := ParseTopic(s)
		if err != nil {
			t.Fatalf("ParseTopic(%q): %v", s, err)
		}
		if tp.String() != s {
			t.Fatalf("String = %q, want %q", tp.String(), s)
		}
	}
	for _, s := range []string{"", "venuebox", "other/a/b/c/checkins", "venuebox/a/b/c/nope",
		"venuebox/a/b/+/checkins", "venuebox/a/b/revoke/x/y", "venuebox/a/b/checkins"} {
		if _, err := ParseTopic(s); err == nil {
			t.Fatalf("ParseTopic(%q) accepted", s)
		}
	}
	if got := Shared("hq", AllBoxesFilter(KindCheckins)); got != "$share/hq/venuebox/+/+/+/checkins" {
		t.Fatalf("Shared = %q", got)
	}
}

func TestAssembler_outOfOrderAndRestart(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	raw := make([]byte, 3*MaxChunk+17)
	for i := range raw {
		raw[i] = byte(rng.IntN(256))
	}
	chunks, err := Split("ev-1", 2, 0, raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) != 4 {
		t.Fatalf("%d chunks", len(chunks))
	}
	var a Assembler
	// A stale version in progress is replaced.
	old, _ := Split("ev-1", 1, 0, raw[:10])
	if _, err := a.Add(old[0]); err != nil {
		t.Fatal(err)
	}
	order := rng.Perm(len(chunks))
	for i, k := range order[:len(order)-1] {
		got, err := a.Add(chunks[k])
		if err != nil || got != nil {
			t.Fatalf("chunk %d: %v %v", i, got, err)
		}
		if _, err := a.Add(chunks[k]); err != nil { // duplicates are harmless
			t.Fatal(err)
		}
	}
	r, ok := a.Pending("ev-1")
	if !ok || r.Version != 2 || r.Next != order[len(order)-1] {
		t.Fatalf("Pending = %+v %v, want next %d", r, ok, order[len(order)-1])
	}
	got, err := a.Add(chunks[order[len(order)-1]])
	if err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("assembled %d bytes, %v", len(got), err)
	}
	if _, ok := a.Pending("ev-1"); ok {
		t.Fatal("still pending after completion")
	}
}

func TestAssembler_badDigest(t *testing.T) {
	chunks, err := Split("ev-1", 1, 0, []byte("hello manifest"))
	if err != nil {
		t.Fatal(err)
	}
	chunks[0].Data = []byte("hellO manifest")
	var a Assembler
	if _, err := a.Add(chunks[0]); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Add = %v, want ErrInvalid", err)
	}
}

func FuzzDecodeBatch(f *testing.F) {
	good, _ := Encode(sampleBatch(2))
	f.Add(good)
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"v":1,"box":"a","checkins":[{"nonce":"x","box":"a","seq":1,"verdict":"held","at":"2024-01-01T00:00:00Z"}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var b Batch
		if err := Decode(raw, &b); err != nil {
			return
		}
		again, err := Encode(&b)
		if err != nil {
			t.Fatalf("valid batch does not re-encode: %v", err)
		}
		var b2 Batch
		if err := Decode(again, &b2); err != nil {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
	})
}

func FuzzDecodeOthers(f *testing.F) {
	for _, p := range []Payload{
		&Ack{Box: "gate-1", Nonces: []string{"a"}, Missing: []Range{{Boot: 1, From: 2, To: 3}}},
		&State{Box: "gate-1", Online: true, Manifests: map[string]uint64{"ev": 3}},
		&ManifestRequest{Box: "gate-1", Have: map[string]uint64{"ev": 1}, Resume: &Resume{Event: "ev", Version: 2, Next: 1}},
		&Revocation{Event: "ev", Tickets: []string{"t1"}, At: time.Unix(1, 0), Expires: time.Unix(600, 0), Key: "ab12", Sig: make([]byte, 64)},
		sampleAudit(3),
		&AuditBatch{Box: "gate-1"},
	} {
		raw, err := Encode(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	chunks, _ := Split("ev", 1, 0, []byte("abc"))
	raw, _ := Encode(&chunks[0])
	f.Add(raw)
	f.Fuzz(func(t *testing.T, raw []byte) {
		var a Assembler
		var c ManifestChunk
		if Decode(raw, &c) == nil {
			if _, err := a.Add(c); err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatal(err)
			}
		}
		for _, p := range []Payload{&Ack{}, &State{}, &ManifestRequest{}, &Revocation{}, &AuditBatch{}} {
			if Decode(raw, p) == nil {
				if _, err := Encode(p); err != nil {
					t.Fatalf("valid %T does not re-encode: %v", p, err)
				}
			}
		}
	})
}

func FuzzParseTopic(f *testing.F) {
	f.Add("venuebox/acme/v1/gate-1/checkins")
	f.Add("venuebox/acme/v1/revoke")
	f.Fuzz(func(t *testing.T, s string) {
		tp, err := ParseTopic(s)
		if err != nil {
			return
		}
		if tp.String() != s {
			t.Fatalf("String = %q, want %q", tp.String(), s)
		}
	})
}

func BenchmarkDecodeBatch(b *testing.B) {
	raw, err := Encode(sampleBatch(200))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		var out Batch
		if err := Decode(raw, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAssembler_bounded feeds the assembler what a rogue client could:
// first chunks of many manifests, and chunks beyond a manifest's declared
// size. What it holds stays within its bounds, and a real manifest still
// completes.
func TestAssembler_bounded(t *testing.T) {
	a := Assembler{MaxPending: 3, MaxBytes: 1 << 20}
	junk := make([]byte, MaxChunk)
	for i := range 600 {
		c := ManifestChunk{Event: fmt.Sprintf("ev-%d", i), Version: 1, Count: 2, Size: 2 * MaxChunk, SHA256: make([]byte, 32), Data: junk}
		if _, err := a.Add(c); err != nil {
			t.Fatal(err)
		}
		if n := len(a.Events()); n > 3 {
			t.Fatalf("%d manifests in progress, bound 3", n)
		}
		held := 0
		for _, p := range a.parts {
			held += p.bytes
		}
		if held > 1<<20 {
			t.Fatalf("%d bytes held, bound %d", held, 1<<20)
		}
	}
	if _, err := a.Add(ManifestChunk{Event: "big", Version: 1, Count: 20, Size: 2 << 20, SHA256: make([]byte, 32), Data: junk}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a manifest over MaxBytes: %v", err)
	}
	liar := ManifestChunk{Event: "liar", Version: 1, Count: 3, Size: 10, SHA256: make([]byte, 32), Data: []byte("0123456789")}
	if _, err := a.Add(liar); err != nil {
		t.Fatal(err)
	}
	liar.Index = 1
	if _, err := a.Add(liar); !errors.Is(err, ErrInvalid) {
		t.Fatalf("chunks beyond the declared size: %v", err)
	}
	raw := []byte("a real manifest")
	chunks, err := Split("ev-real", 2, 0, raw)
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Add(chunks[0])
	if err != nil || string(got) != string(raw) {
		t.Fatalf("real manifest: %q %v", got, err)
	}
}
