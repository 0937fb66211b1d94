package wire

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func sampleAudit(n int) *AuditBatch {
	b := &AuditBatch{Box: "gate-1", Sent: time.Unix(100, 0).UTC(),
		Attest: &AuditAttest{Seq: 4, Reached: 4, Hash: strings.Repeat("ab", 32)}}
	prev := strings.Repeat("ab", 32)
	for i := range n {
		h := strings.Repeat(string(rune('0'+i%10)), 64)
		b.Entries = append(b.Entries, AuditEntry{Seq: uint64(5 + i), At: time.Unix(int64(i), 0).UTC(), Kind: "decision",
			Actor: "gate-1", Subject: "nonce", Verdict: "admitted", Reason: "ok", Prev: prev, Hash: h})
		prev = h
	}
	return b
}

func TestAuditBatch_roundTrip(t *testing.T) {
	raw, err := Encode(sampleAudit(3))
	if err != nil {
		t.Fatal(err)
	}
	var b AuditBatch
	if err := Decode(raw, &b); err != nil {
		t.Fatal(err)
	}
	if len(b.Entries) != 3 || b.Entries[2].Seq != 7 || b.Attest.Reached != 4 {
		t.Fatalf("decoded %+v", b)
	}
	probe, err := Encode(&AuditBatch{Box: "gate-1"})
	if err != nil {
		t.Fatalf("an empty batch (a probe for HQ's mark) must encode: %v", err)
	}
	if err := Decode(probe, &AuditBatch{}); err != nil {
		t.Fatal(err)
	}
	a := Ack{Box: "gate-1", Audit: &AuditMark{Seq: 7, Hash: strings.Repeat("cd", 32)}}
	if raw, err := Encode(&a); err != nil {
		t.Fatal(err)
	} else if err := Decode(raw, &Ack{}); err != nil {
		t.Fatal(err)
	}
}

func TestAuditBatch_refuses(t *testing.T) {
	for name, mut := range map[string]func(b *AuditBatch){
		"bad box":            func(b *AuditBatch) { b.Box = "a/b" },
		"seq 0":              func(b *AuditBatch) { b.Entries[0].Seq = 0 },
		"short hash":         func(b *AuditBatch) { b.Entries[1].Hash = "abc" },
		"upper-case hash":    func(b *AuditBatch) { b.Entries[1].Hash = strings.Repeat("AB", 32) },
		"bad prev":           func(b *AuditBatch) { b.Entries[1].Prev = "zz" },
		"out of order":       func(b *AuditBatch) { b.Entries[2].Seq = 5 },
		"repeated":           func(b *AuditBatch) { b.Entries[1].Seq = 5 },
		"no kind":            func(b *AuditBatch) { b.Entries[0].Kind = "" },
		"long detail":        func(b *AuditBatch) { b.Entries[0].Detail = strings.Repeat("x", maxDetail+1) },
		"long actor":         func(b *AuditBatch) { b.Entries[0].Actor = strings.Repeat("x", maxText+1) },
		"attest beyond mark": func(b *AuditBatch) { b.Attest.Reached = 9 },
		"attest bad hash":    func(b *AuditBatch) { b.Attest.Hash = "" },
		"too many": func(b *AuditBatch) {
			b.Entries = sampleAudit(MaxAuditBatch + 1).Entries
		},
	} {
		t.Run(name, func(t *testing.T) {
			b := sampleAudit(3)
			mut(b)
			if _, err := Encode(b); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Encode: %v, want ErrInvalid", err)
			}
		})
	}
	// A gap is the box telling what it has: HQ, not the wire, flags it.
	b := sampleAudit(3)
	b.Entries[2].Seq = 9
	if _, err := Encode(b); err != nil {
		t.Fatalf("a gap between entries: %v", err)
	}
	if _, err := Encode(&Ack{Box: "gate-1", Audit: &AuditMark{Seq: 0, Hash: "ab"}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an ack with a hash at seq 0: %v", err)
	}
}

func TestParseTopic_audit(t *testing.T) {
	tp, err := ParseTopic(BoxTopic("acme", "sh-pudong", "gate-1", KindAudit))
	if err != nil || tp.Kind != KindAudit || tp.Box != "gate-1" {
		t.Fatalf("%+v %v", tp, err)
	}
	if _, err := ParseTopic("venuebox/acme/sh-pudong/audit"); err == nil {
		t.Fatal("audit is a box-level topic")
	}
}
