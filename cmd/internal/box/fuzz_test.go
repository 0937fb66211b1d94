package box

import (
	"context"
	"testing"

	"venuebox/cmd/internal/gate"
)

// FuzzPresent sends arbitrary scanner and card input through the whole
// decision path (a real store, fsync off for speed): it never fails, never
// panics, always gives a verdict with a reason of that verdict, and never
// admits input that is not one of the event's codes.
func FuzzPresent(f *testing.F) {
	fx := newFixture(f, defaultPolicy())
	fx.store.SetNoSync(true)
	valid := map[string]bool{}
	for _, c := range fx.codes {
		valid[c] = true
		f.Add(c, false)
	}
	f.Add("", false)
	f.Add("VB1", false)
	f.Add("04:A1:B2", true)
	f.Add("\x00\xff", true)
	f.Fuzz(func(t *testing.T, input string, card bool) {
		kind := Code
		if card {
			kind = Card
		}
		v, err := fx.box.Present(context.Background(), kind, input)
		if err != nil {
			t.Fatal(err)
		}
		want, ok := gate.ParseVerdict(v.Verdict)
		if !ok || gate.Reasons[gate.Reason(v.Reason)] != want {
			t.Fatalf("verdict %q with reason %q", v.Verdict, v.Reason)
		}
		if v.Verdict == "admitted" && !v.Repeat && (card || !valid[input]) {
			t.Fatalf("admitted %q (card %v)", input, card)
		}
	})
}
