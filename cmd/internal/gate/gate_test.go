package gate

import (
	"fmt"
	"testing"
	"time"

	"venuebox/cmd/internal/ticket"
)

var t0 = time.Date(2026, 12, 4, 14, 0, 0, 0, time.UTC)

func policy() Policy {
	return Policy{DoubleScanWindow: 3 * time.Second, FeverC: 37.3, ClockSkew: 5 * time.Minute}
}

func scan() Scan { return Scan{Gate: "gate-1", Now: t0, Boot: 2, Mono: time.Minute} }

func temp(c float64) *float64 { return &c }

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

func TestDecide(t *testing.T) {
	valid := Ticket{Event: "ev", ID: "7"}
	used := History{Admissions: []Use{{At: t0.Add(-time.Hour), Gate: "gate-2", Verdict: Admitted, Reason: OK, Boot: 1}}}
	tests := []struct {
		name    string
		ticket  Ticket
		history History
		policy  func(*Policy)
		scan    func(*Scan)
		want    Verdict
		reason  Reason
		repeat  bool
	}{
		{name: "ok", ticket: valid, want: Admitted, reason: OK},
		{name: "unreadable", ticket: Ticket{Problem: Unreadable}, want: Rejected, reason: Unreadable},
		{name: "bad signature", ticket: Ticket{Problem: BadSignature}, want: Rejected, reason: BadSignature},
		{name: "unknown key", ticket: Ticket{Problem: UnknownKey}, want: Rejected, reason: UnknownKey},
		{name: "unknown", ticket: Ticket{Problem: Unknown}, want: Rejected, reason: Unknown},
		{name: "wrong event", ticket: Ticket{Problem: WrongEvent}, want: Rejected, reason: WrongEvent},
		{name: "a problem that is no rejection is unreadable", ticket: Ticket{Problem: OK}, want: Rejected, reason: Unreadable},
		{name: "revoked", ticket: Ticket{Event: "ev", ID: "7", Revoked: true}, want: Rejected, reason: Revoked},
		{name: "revoked beats used", ticket: Ticket{Event: "ev", ID: "7", Revoked: true}, history: used, want: Rejected, reason: Revoked},
		{name: "not yet valid", ticket: Ticket{From: t0.Add(time.Hour)}, want: Rejected, reason: NotYetValid},
		{name: "within skew before start", ticket: Ticket{From: t0.Add(4 * time.Minute)}, want: Admitted, reason: OK},
		{name: "expired", ticket: Ticket{Until: t0.Add(-time.Hour)}, want: Rejected, reason: Expired},
		{name: "within skew after end", ticket: Ticket{Until: t0.Add(-4 * time.Minute)}, want: Admitted, reason: OK},
		{name: "inside window", ticket: Ticket{From: t0.Add(-time.Hour), Until: t0.Add(time.Hour)}, want: Admitted, reason: OK},
		{name: "wrong zone by name", ticket: Ticket{HasZone: true, Zone: "vip"}, scan: func(s *Scan) { s.Zone = "hall" }, want: Rejected, reason: WrongZone},
		{name: "right zone by name", ticket: Ticket{HasZone: true, Zone: "vip"}, scan: func(s *Scan) { s.Zone = "vip" }, want: Admitted, reason: OK},
		{name: "wrong zone by tag", ticket: Ticket{HasZone: true, ZoneTag: ticket.ZoneTag("vip")}, scan: func(s *Scan) { s.Zone = "hall" }, want: Rejected, reason: WrongZone},
		{name: "right zone by tag", ticket: Ticket{HasZone: true, ZoneTag: ticket.ZoneTag("vip")}, scan: func(s *Scan) { s.Zone = "vip" }, want: Admitted, reason: OK},
		{name: "zoned ticket at main entrance", ticket: Ticket{HasZone: true, Zone: "vip"}, want: Admitted, reason: OK},
		{name: "unzoned ticket at a zoned gate", ticket: valid, scan: func(s *Scan) { s.Zone = "vip" }, want: Admitted, reason: OK},
		{name: "already used", ticket: valid, history: used, want: Rejected, reason: AlreadyUsed},
		{name: "reentry by event rule", ticket: Ticket{Reentry: true}, history: used, want: Admitted, reason: Reentry},
		{name: "reentry by policy", ticket: valid, history: used, policy: func(p *Policy) { p.Reentry = yes() }, want: Admitted, reason: Reentry},
		{name: "policy forbids reentry the event allows", ticket: Ticket{Reentry: true}, history: used, policy: func(p *Policy) { p.Reentry = no() }, want: Rejected, reason: AlreadyUsed},
		{name: "fever", ticket: valid, scan: func(s *Scan) { s.TempC = temp(38.1) }, want: Held, reason: Fever},
		{name: "fever at threshold", ticket: valid, scan: func(s *Scan) { s.TempC = temp(37.3) }, want: Held, reason: Fever},
		{name: "normal temperature", ticket: valid, scan: func(s *Scan) { s.TempC = temp(36.6) }, want: Admitted, reason: OK},
		{name: "fever never beats a rejection", ticket: valid, history: used, scan: func(s *Scan) { s.TempC = temp(39) }, want: Rejected, reason: AlreadyUsed},
		{name: "fever on reentry", ticket: Ticket{Reentry: true}, history: used, scan: func(s *Scan) { s.TempC = temp(39) }, want: Held, reason: Fever},
		{
			name: "double scan repeats the verdict", ticket: valid, history: History{
				Admissions: used.Admissions,
				LastHere:   &Use{Gate: "gate-1", Verdict: Admitted, Reason: OK, Boot: 2, Mono: time.Minute - 2*time.Second},
			},
			want: Admitted, reason: OK, repeat: true,
		},
		{
			name: "double scan of a rejection repeats it", ticket: valid, history: History{
				LastHere: &Use{Gate: "gate-1", Verdict: Rejected, Reason: Unknown, Boot: 2, Mono: time.Minute - time.Second},
			},
			want: Rejected, reason: Unknown, repeat: true,
		},
		{
			name: "after the window it is a second entry", ticket: valid, history: History{
				Admissions: used.Admissions,
				LastHere:   &Use{Gate: "gate-1", Verdict: Admitted, Reason: OK, Boot: 2, Mono: time.Minute - 3*time.Second},
			},
			want: Rejected, reason: AlreadyUsed,
		},
		{
			name: "another gate is no double scan", ticket: valid, history: History{
				Admissions: used.Admissions,
				LastHere:   &Use{Gate: "gate-2", Verdict: Admitted, Reason: OK, Boot: 2, Mono: time.Minute - time.Second},
			},
			want: Rejected, reason: AlreadyUsed,
		},
		{
			name: "another boot is no double scan", ticket: valid, history: History{
				Admissions: used.Admissions,
				LastHere:   &Use{Gate: "gate-1", Verdict: Admitted, Reason: OK, Boot: 1, Mono: time.Minute - time.Second},
			},
			want: Rejected, reason: AlreadyUsed,
		},
		{
			name: "the window is measured on the monotonic clock, not the wall", ticket: valid,
			history: History{
				Admissions: used.Admissions,
				// The wall clock says one second, the monotonic clock an hour.
				LastHere: &Use{At: t0.Add(-time.Second), Gate: "gate-1", Verdict: Admitted, Reason: OK, Boot: 2},
			},
			scan: func(s *Scan) { s.Mono = time.Hour },
			want: Rejected, reason: AlreadyUsed,
		},
		{name: "staff override is not a scan reason", ticket: Ticket{Problem: StaffOverride}, want: Rejected, reason: Unreadable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, s := policy(), scan()
			if tc.policy != nil {
				tc.policy(&p)
			}
			if tc.scan != nil {
				tc.scan(&s)
			}
			d := Decide(tc.ticket, tc.history, p, s)
			if d.Verdict != tc.want || d.Reason != tc.reason || d.Repeat != tc.repeat {
				t.Fatalf("got %v %s repeat=%v, want %v %s repeat=%v", d.Verdict, d.Reason, d.Repeat, tc.want, tc.reason, tc.repeat)
			}
			if Reasons[d.Reason] != d.Verdict {
				t.Fatalf("reason %s does not belong to verdict %v", d.Reason, d.Verdict)
			}
		})
	}
}

func TestDecide_alreadyUsedNamesTheFirstAdmission(t *testing.T) {
	first := Use{At: t0.Add(-2 * time.Hour), Gate: "gate-2", Verdict: Admitted, Reason: OK}
	h := History{Admissions: []Use{first, {At: t0.Add(-time.Hour), Gate: "gate-3", Verdict: Admitted, Reason: Reentry}}}
	d := Decide(Ticket{}, h, policy(), scan())
	if d.Prior == nil || *d.Prior != first {
		t.Fatalf("prior = %+v, want %+v", d.Prior, first)
	}
}

func TestDecide_clockBehind(t *testing.T) {
	// After a cold boot without network the wall clock reads 1970.
	newest := t0.Add(time.Hour)
	s := scan()
	s.Now = time.Unix(0, 0)
	d := Decide(Ticket{Until: t0.Add(2 * time.Hour)}, History{Newest: newest}, policy(), s)
	if !d.At.Equal(newest) {
		t.Fatalf("at = %v, want the newest recorded %v", d.At, newest)
	}
	if d.Verdict != Admitted {
		t.Fatalf("verdict %v %s: the window is judged on the trusted time", d.Verdict, d.Reason)
	}
	// A window that ended before the newest recorded time stays expired
	// however far the wall clock jumps back.
	d = Decide(Ticket{Until: t0}, History{Newest: newest}, policy(), s)
	if d.Reason != Expired {
		t.Fatalf("reason %s, want expired", d.Reason)
	}
	// A clock ahead of the newest record is used as it is.
	s.Now = newest.Add(time.Minute)
	if d := Decide(Ticket{}, History{Newest: newest}, policy(), s); !d.At.Equal(s.Now) {
		t.Fatalf("at = %v, want now %v", d.At, s.Now)
	}
}

func TestProblemOf(t *testing.T) {
	ring := ticket.NewKeyring()
	for code, want := range map[string]Reason{
		"12345":                           Unknown,
		"VB1":                             Unreadable,
		"VB1!!!!":                         Unreadable,
		"VB1" + string(make([]byte, 200)): Unreadable,
	} {
		_, err := ring.Verify(code)
		if got := ProblemOf(err); got != want {
			t.Errorf("ProblemOf(Verify(%.10q)) = %q (%v), want %q", code, got, err, want)
		}
	}
	if got := ProblemOf(fmt.Errorf("x: %w", ticket.ErrUnknownKey)); got != UnknownKey {
		t.Errorf("unknown key: %q", got)
	}
	if got := ProblemOf(fmt.Errorf("x: %w", ticket.ErrBadSignature)); got != BadSignature {
		t.Errorf("bad signature: %q", got)
	}
	if got := ProblemOf(nil); got != "" {
		t.Errorf("nil: %q", got)
	}
}

func TestVerdictNames(t *testing.T) {
	for _, v := range []Verdict{Admitted, Rejected, Held} {
		got, ok := ParseVerdict(v.String())
		if !ok || got != v {
			t.Errorf("ParseVerdict(%q) = %v, %v", v, got, ok)
		}
	}
	if _, ok := ParseVerdict("none"); ok {
		t.Error("ParseVerdict(none) succeeded")
	}
}

// FuzzDecide checks that Decide is total: whatever the input it returns a
// verdict with a reason of that verdict, never admits a credential with a
// problem or a revoked ticket, and never records a time before Newest.
func FuzzDecide(f *testing.F) {
	f.Add("", "ev", "1", false, false, "", byte(0), int64(0), int64(0), false, uint8(0), int64(0), int64(0), 36.5, false, "gate-1", "", int64(0), int64(1000), uint64(1), int64(0))
	f.Add("bad-signature", "ev", "1", true, true, "vip", byte(3), int64(-10), int64(10), true, uint8(1), int64(5), int64(-5), 39.0, true, "gate-1", "hall", int64(100), int64(1000), uint64(1), int64(2))
	f.Fuzz(func(t *testing.T, problem, event, id string, revoked, hasZone bool, zone string, zoneTag byte,
		from, until int64, reentry bool, lastVerdict uint8, lastMono, newest int64, tempC float64, hasTemp bool,
		gateID, gateZone string, nowSec, mono int64, boot uint64, admissions int64) {
		tk := Ticket{Problem: Reason(problem), Event: event, ID: id, Revoked: revoked, HasZone: hasZone, Zone: zone, ZoneTag: zoneTag, Reentry: reentry}
		if from != 0 {
			tk.From = t0.Add(time.Duration(from) * time.Minute)
		}
		if until != 0 {
			tk.Until = t0.Add(time.Duration(until) * time.Minute)
		}
		h := History{Newest: t0.Add(time.Duration(newest) * time.Second)}
		for i := int64(0); i < admissions%4; i++ {
			h.Admissions = append(h.Admissions, Use{At: t0, Gate: "g", Verdict: Admitted, Reason: OK})
		}
		if lastVerdict%4 != 0 {
			h.LastHere = &Use{Gate: gateID, Verdict: Verdict(lastVerdict % 4), Reason: OK, Boot: boot, Mono: time.Duration(lastMono) * time.Millisecond}
		}
		s := Scan{Gate: gateID, Zone: gateZone, Now: t0.Add(time.Duration(nowSec) * time.Second), Boot: boot, Mono: time.Duration(mono) * time.Millisecond}
		if hasTemp {
			s.TempC = &tempC
		}
		d := Decide(tk, h, policy(), s)
		if d.Verdict < Admitted || d.Verdict > Held {
			t.Fatalf("no verdict: %+v", d)
		}
		if d.At.Before(h.Newest) {
			t.Fatalf("at %v before newest %v", d.At, h.Newest)
		}
		if d.Repeat {
			if d.Verdict != h.LastHere.Verdict {
				t.Fatalf("repeat changed the verdict: %+v", d)
			}
			return
		}
		if Reasons[d.Reason] != d.Verdict {
			t.Fatalf("reason %q is not a reason of %v", d.Reason, d.Verdict)
		}
		if d.Verdict == Admitted && (tk.Problem != "" || tk.Revoked) {
			t.Fatalf("admitted a credential with problem %q revoked=%v", tk.Problem, tk.Revoked)
		}
	})
}
