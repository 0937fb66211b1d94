package hq

import (
	"path/filepath"
	"testing"

	"venuebox/cmd/internal/box"
	"venuebox/cmd/internal/manifest"
	"venuebox/cmd/internal/ticket"
)

func TestLibrary_deltaChainsAndSnapshots(t *testing.T) {
	dir := t.TempDir()
	if _, err := ticket.GenerateKey(dir); err != nil {
		t.Fatal(err)
	}
	priv, err := ticket.LoadPrivateKey(filepath.Join(dir, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := openLibrary(filepath.Join(dir, "manifests"), priv)
	if err != nil {
		t.Fatal(err)
	}
	_, raw, err := box.DemoManifest(priv, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, d, err := l.add(raw); err != nil || d != nil {
		t.Fatalf("first snapshot: delta %v, %v", d, err)
	}
	if _, _, err := l.add(raw); err == nil {
		t.Fatal("the same version taken twice")
	}
	for _, id := range []string{"2", "3"} {
		if d, err := l.revoke(box.DemoEvent, id); err != nil || d == nil || d.Base == 0 {
			t.Fatalf("revoke %s: %+v %v", id, d, err)
		}
	}
	if d, err := l.revoke("no-such-event", "1"); d != nil || err != nil {
		t.Fatalf("revoke of an unknown event: %v %v", d, err)
	}
	versions := func(have uint64) (out [][2]uint64) {
		ms, err := l.Manifests("demo-bank", "demo-venue", map[string]uint64{box.DemoEvent: have})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if _, err := manifest.Parse(m.Raw, l.trust); err != nil {
				t.Fatalf("served manifest does not verify: %v", err)
			}
			out = append(out, [2]uint64{m.Base, m.Version})
		}
		return out
	}
	for have, want := range map[uint64][][2]uint64{
		0: {{0, 3}},         // nothing held: the snapshot
		1: {{1, 2}, {2, 3}}, // the chain of deltas
		2: {{2, 3}},
		3: nil,
	} {
		got := versions(have)
		if len(got) != len(want) {
			t.Fatalf("have %d: served %v, want %v", have, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("have %d: served %v, want %v", have, got, want)
			}
		}
	}
	if ms, _ := l.Manifests("demo-bank", "other-venue", nil); len(ms) != 0 {
		t.Fatalf("another venue's box served %d manifests", len(ms))
	}
	// After a restart the deltas are gone and the snapshot is served.
	l2, err := openLibrary(filepath.Join(dir, "manifests"), priv)
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := l2.Manifests("demo-bank", "demo-venue", map[string]uint64{box.DemoEvent: 1})
	if len(ms) != 1 || ms[0].Version != 3 || ms[0].Base != 0 {
		t.Fatalf("after a restart: %+v", ms)
	}
}
