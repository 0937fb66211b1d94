// Package gate is the gate's decision: given what was presented, the
// ticket's history, the policy and the moment, it returns one verdict with
// one reason. It is pure: no clock, logger, store or device inside, so every
// rule is table-tested and fuzzed, and the box records exactly what was
// decided.
package gate

import (
	"errors"
	"time"

	"venuebox/cmd/internal/ticket"
)

// Verdict is the outcome shown at the gate.
type Verdict uint8

// Verdicts. The zero Verdict is not a decision.
const (
	Admitted Verdict = iota + 1
	Rejected
	Held
)

// String returns the verdict's stable name on the wire: "admitted",
// "rejected" or "held".
func (v Verdict) String() string {
	switch v {
	case Admitted:
		return "admitted"
	case Rejected:
		return "rejected"
	case Held:
		return "held"
	}
	return "none"
}

// ParseVerdict returns the Verdict named s, or false.
func ParseVerdict(s string) (Verdict, bool) {
	for _, v := range []Verdict{Admitted, Rejected, Held} {
		if v.String() == s {
			return v, true
		}
	}
	return 0, false
}

// Reason says why, in a stable kebab-case word (DESIGN.md §3 Decisions).
type Reason string

// Reasons for admitted.
const (
	OK            Reason = "ok"
	Reentry       Reason = "reentry"
	StaffOverride Reason = "staff-override"
)

// Reasons for rejected.
const (
	AlreadyUsed  Reason = "already-used"
	Revoked      Reason = "revoked"
	Unknown      Reason = "unknown"
	BadSignature Reason = "bad-signature"
	UnknownKey   Reason = "unknown-key"
	WrongEvent   Reason = "wrong-event"
	NotYetValid  Reason = "not-yet-valid"
	Expired      Reason = "expired"
	WrongZone    Reason = "wrong-zone"
	Unreadable   Reason = "unreadable"
)

// Fever is the reason for held: a temperature at or above the policy's
// threshold, for a second check by staff.
const Fever Reason = "fever"

// Reasons lists every reason with the verdict it belongs to.
var Reasons = map[Reason]Verdict{
	OK: Admitted, Reentry: Admitted, StaffOverride: Admitted,
	AlreadyUsed: Rejected, Revoked: Rejected, Unknown: Rejected,
	BadSignature: Rejected, UnknownKey: Rejected, WrongEvent: Rejected,
	NotYetValid: Rejected, Expired: Rejected, WrongZone: Rejected,
	Unreadable: Rejected, Fever: Held,
}

// ProblemOf maps an error from ticket.Keyring.Verify to the rejection it
// earns: unknown-key, bad-signature, or unreadable for a code that has the
// signed prefix but cannot be one. It returns "" for nil.
func ProblemOf(err error) Reason {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ticket.ErrUnknownKey):
		return UnknownKey
	case errors.Is(err, ticket.ErrBadSignature):
		return BadSignature
	case errors.Is(err, ticket.ErrNotSigned):
		return Unknown
	}
	return Unreadable
}

// Ticket is what the box knows of the presented ticket after looking it up.
type Ticket struct {
	// Problem, when set, rejects the credential before anything else is
	// looked at: unreadable, bad-signature, unknown-key, unknown (no
	// manifest entry for an unsigned code or a card) or wrong-event (a
	// valid signature for an event this box does not serve).
	Problem Reason
	Event   string // the event id
	ID      string // the ticket id within the event
	Revoked bool
	// HasZone marks a ticket valid only at gates of its zone. Zone is the
	// zone's name when the manifest gives it; otherwise ZoneTag, the signed
	// code's ticket.ZoneTag, is compared.
	HasZone bool
	Zone    string
	ZoneTag byte
	// From and Until bound the validity window; a zero bound is open.
	From, Until time.Time
	// Reentry is the event's own re-entry rule.
	Reentry bool
}

// Use is one earlier decision.
type Use struct {
	At      time.Time // wall time as recorded
	Gate    string
	Verdict Verdict
	Reason  Reason
	// Boot and Mono place the decision on the box's monotonic clock (boot
	// counter and time since the daemon started), which the double-scan
	// window is measured on: wall time on a Pi can jump.
	Boot uint64
	Mono time.Duration
}

// History is what the box has recorded about the ticket and the input.
type History struct {
	// Admissions are the ticket's earlier admissions at any gate, oldest
	// first (those undone by staff excluded).
	Admissions []Use
	// LastHere is the last decision on this exact input at this box, if any.
	LastHere *Use
	// Newest is the newest wall time the box has recorded. A Pi has no
	// real-time clock, so a wall time earlier than this is not trusted.
	Newest time.Time
}

// Policy is the gate's configuration.
type Policy struct {
	// DoubleScanWindow: the same input again within it, at the same gate,
	// is one person scanning twice.
	DoubleScanWindow time.Duration
	// Reentry, when not nil, overrides the event's own re-entry rule.
	Reentry *bool
	// FeverC is the temperature (°C) at or above which a person is held.
	FeverC float64
	// ClockSkew is the grace allowed at both ends of a validity window.
	ClockSkew time.Duration
}

// Scan is the moment of presentation.
type Scan struct {
	Gate string // this gate's id
	Zone string // this gate's zone; "" is a main entrance that takes every zone
	Now  time.Time
	Boot uint64        // the box's boot counter
	Mono time.Duration // time since the daemon started
	// TempC is the measured temperature, nil when none was measured.
	TempC *float64
}

// Decision is the outcome.
type Decision struct {
	Verdict Verdict
	Reason  Reason
	// At is the time to record: Now, or History.Newest when the wall clock
	// is behind what the box already recorded.
	At time.Time
	// Repeat marks a double scan: the verdict repeats LastHere and nothing
	// new is recorded.
	Repeat bool
	// Prior is the first admission, for already-used and reentry.
	Prior *Use
}

// Decide returns the verdict for presenting t with history h under policy
// p at scan s. It is total: every input yields a decision.
func Decide(t Ticket, h History, p Policy, s Scan) Decision {
	at := s.Now
	if at.Before(h.Newest) {
		at = h.Newest
	}
	if last := h.LastHere; last != nil && last.Gate == s.Gate && last.Boot == s.Boot &&
		s.Mono >= last.Mono && s.Mono-last.Mono < p.DoubleScanWindow && last.Verdict != 0 {
		return Decision{Verdict: last.Verdict, Reason: last.Reason, At: at, Repeat: true}
	}
	reject := func(r Reason) Decision { return Decision{Verdict: Rejected, Reason: r, At: at} }
	if t.Problem != "" {
		if v, ok := Reasons[t.Problem]; !ok || v != Rejected {
			return reject(Unreadable)
		}
		return reject(t.Problem)
	}
	if t.Revoked {
		return reject(Revoked)
	}
	if !t.From.IsZero() && at.Before(t.From.Add(-p.ClockSkew)) {
		return reject(NotYetValid)
	}
	if !t.Until.IsZero() && at.After(t.Until.Add(p.ClockSkew)) {
		return reject(Expired)
	}
	if t.HasZone && s.Zone != "" && !inZone(t, s.Zone) {
		return reject(WrongZone)
	}
	reason := OK
	var prior *Use
	if len(h.Admissions) > 0 {
		first := h.Admissions[0]
		prior = &first
		reentry := t.Reentry
		if p.Reentry != nil {
			reentry = *p.Reentry
		}
		if !reentry {
			d := reject(AlreadyUsed)
			d.Prior = prior
			return d
		}
		reason = Reentry
	}
	if s.TempC != nil && p.FeverC > 0 && *s.TempC >= p.FeverC {
		return Decision{Verdict: Held, Reason: Fever, At: at, Prior: prior}
	}
	return Decision{Verdict: Admitted, Reason: reason, At: at, Prior: prior}
}

func inZone(t Ticket, zone string) bool {
	if t.Zone != "" {
		return t.Zone == zone
	}
	return t.ZoneTag == ticket.ZoneTag(zone)
}
