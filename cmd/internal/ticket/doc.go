// Package ticket is venuebox's signed ticket code: a compact binary payload
// signed with Ed25519 and encoded in Base45 (RFC 9285) behind the prefix
// "VB1", so that the whole code fits QR alphanumeric mode and a gate can
// verify it offline with nothing but the event's public keys.
//
// # Layout
//
// The signed bytes are:
//
//	byte 0      high nibble format version (1), low nibble flags
//	            (bit 0: has validity window, bit 1: has zone; others zero)
//	bytes 1-2   key id: the first 2 bytes of SHA-256(public key)
//	bytes 3-5   event tag: the first 3 bytes of SHA-256(event id)
//	uvarint     ticket number (ticket ids are "1", "2", ... within an event)
//	[1 byte]    zone tag, if the zone flag is set: first byte of SHA-256(zone)
//	[uvarint]   valid-from, if the window flag is set: minutes since
//	            2026-01-01T00:00:00Z
//	[uvarint]   then (until - from) in minutes
//	64 bytes    Ed25519 signature over "VB1" || all the bytes above
//
// Every variable-length field is in its shortest (canonical) form, so a code
// that verifies has exactly one spelling.
//
// # Size
//
// A code is at most [MaxLen] (120) characters; [Sign] refuses longer ones.
// The usual code has a ticket number below 16384 (2 bytes), a zone (1 byte)
// and a window of up to 11 days (2 bytes) that starts before 2029-12-27
// (2^21 minutes after the epoch: 3 bytes), which is 78 bytes, 117 Base45
// characters and 3 prefix characters: 120. A window starting later, a longer
// window, or a larger number with all options set no longer fits, and Sign
// says so; without a zone or a window there is room to spare.
//
// # Trust
//
// The key id only selects which keys of a [Keyring] to try; two bytes can
// collide, so every key with that id is tried. [Keyring.Verify] checks the
// signature before it reads any other field. A tag is a short hash, so a
// verified code still has to be matched against the gate's own event and
// zone: a tag only ever confirms a name, it never tells one.
//
// Codes are bearer secrets: logs show [LogID], manifests store [CodeHash].
// Holder data at rest is sealed under the code itself ([Seal], [Open]).
package ticket
