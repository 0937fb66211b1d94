package manifest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"
)

func snap(version uint64, ids ...int) *Manifest {
	m := &Manifest{Format: Format, Kind: KindSnapshot, Version: version, IssuedAt: time.Unix(1e9, 0),
		Event: Event{ID: "ev"}, CardKey: bytes.Repeat([]byte{1}, CardKeySize)}
	for _, id := range ids {
		m.Tickets = append(m.Tickets, Ticket{ID: fmt.Sprint(id), CodeHash: fmt.Sprintf("%064x", id), NameMasked: "张*"})
	}
	return m
}

func TestDiff(t *testing.T) {
	old := snap(1, 1, 2, 3)
	next := snap(2, 1, 2, 4)
	next.Tickets[1].MemberLevel = "gold"
	next.Revoked = []string{"1"}
	d, ok := Diff(old, next)
	if !ok {
		t.Fatal("no delta")
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	var changed []string
	for _, tk := range d.Tickets {
		changed = append(changed, tk.ID)
	}
	if d.Kind != KindDelta || d.Base != 1 || d.Version != 2 || !slices.Equal(changed, []string{"2", "4"}) ||
		!slices.Equal(d.Removed, []string{"3"}) || !slices.Equal(d.Revoked, []string{"1"}) {
		t.Fatalf("delta %+v", d)
	}
	if _, ok := Diff(next, old); ok {
		t.Fatal("a delta backwards")
	}
	other := snap(3, 1, 2, 4)
	other.CardKey = bytes.Repeat([]byte{2}, CardKeySize)
	if _, ok := Diff(next, other); ok {
		t.Fatal("a delta across a new card key")
	}
	unrevoked := snap(3, 1, 2, 4)
	if _, ok := Diff(next, unrevoked); ok {
		t.Fatal("a delta that withdraws a revocation")
	}
}

func TestRevoke(t *testing.T) {
	m := snap(4, 1, 2)
	m.Revoked = []string{"1"}
	next := Revoke(m, "2", "1")
	if next.Version != 5 || !slices.Equal(next.Revoked, []string{"1", "2"}) || !slices.Equal(m.Revoked, []string{"1"}) {
		t.Fatalf("revoke: %+v (old %v)", next, m.Revoked)
	}
	d, ok := Diff(m, next)
	if !ok || len(d.Tickets) != 0 || !slices.Equal(d.Revoked, []string{"2"}) {
		t.Fatalf("delta %+v %v", d, ok)
	}
}
