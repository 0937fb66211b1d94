// Package store is the box's bbolt file: the ticket cache of each event (from
// manifests), member cards, revocations, every check-in (append-only,
// numbered by boot and sequence so HQ can see gaps), the outbox of check-ins
// HQ has not yet acknowledged, the check-ins of the venue's other gates, a
// hash-chained audit log and the meta data.
//
// [Store.Admit] looks the presented credential up, decides through the
// function it is given, and records the decision, its audit entry and the
// outbox entry in one fsync'd transaction: when Admit returns, the verdict
// is on disk, so the box signals only what a power cut cannot take back; and
// two readers on one box cannot both admit a ticket.
//
// Nothing personal is stored in clear: tickets are keyed by the SHA-256 of
// their code, cards by an HMAC of their UID, holder data is sealed under the
// code or UID (see ticket.Seal) and only masked forms are kept beside it.
// Raw inputs appear only as hashes.
//
// # Layout (schema version 1)
//
//	meta      "schema" → version; "box" → identity; "boot" → boot counter;
//	          "seq" → last sequence number of this boot; "newest" → newest
//	          wall time recorded; "audit" → last audit sequence and hash
//	events    event id → Event (manifest version, card key, rules)
//	ev/<id>   one bucket per event: "tickets" id → Ticket, "codes" code
//	          hash → id, "cards" UID hash → Card, "revoked" id → nil,
//	          "uses" id → []Use (admissions at any gate), "counts"
//	          verdict → count
//	checkins  boot(8) seq(8) → CheckIn
//	outbox    boot(8) seq(8) → nonce, until HQ acknowledges; a nonce is
//	          hex(boot, seq, 8 random bytes), so an ack finds its entry
//	peers     nonce → CheckIn made at another gate
//	resolved  nonce of an admission staff undid, or of a hold staff
//	          resolved → nonce of the check-in that did it (staff.go)
//	audit     seq(8) → Entry
package store
