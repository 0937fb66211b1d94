// Package wire defines the MQTT topics and the versioned JSON payloads that a
// venue box and HQ exchange. It holds no connection logic: both ends use it to
// name topics, encode what they send and validate what they receive. Every
// payload carries a version field "v"; a receiver refuses a version it does
// not know with ErrVersion. Bytes from the network are capped (MaxMessage)
// and validated before anything acts on them. sync/PROTOCOL.md documents the
// same topics and payloads for people.
package wire

import (
	"fmt"
	"strings"
)

// Root is the first level of every topic.
const Root = "venuebox"

// Kind names the last level of a topic: what its payloads are.
type Kind string

// Topic kinds. Box-level kinds sit under venuebox/{org}/{venue}/{box}/;
// venue-level kinds under venuebox/{org}/{venue}/.
const (
	KindCheckins    Kind = "checkins"     // box → HQ and peers: Batch
	KindAck         Kind = "ack"          // HQ → box: Ack
	KindState       Kind = "state"        // box, retained: State (birth) or its will
	KindManifestReq Kind = "manifest-req" // box → HQ: ManifestRequest
	KindManifest    Kind = "manifest"     // HQ → box or venue: ManifestChunk
	KindRevoke      Kind = "revoke"       // HQ → venue: Revocation
	KindAudit       Kind = "audit"        // box → HQ: AuditBatch
)

// A Topic is a parsed topic name. Box is empty for venue-level topics.
type Topic struct {
	Org, Venue, Box string
	Kind            Kind
}

// String returns the topic name.
func (t Topic) String() string {
	if t.Box == "" {
		return Root + "/" + t.Org + "/" + t.Venue + "/" + string(t.Kind)
	}
	return Root + "/" + t.Org + "/" + t.Venue + "/" + t.Box + "/" + string(t.Kind)
}

// BoxTopic returns the topic of kind k for one box.
func BoxTopic(org, venue, box string, k Kind) string {
	return Topic{Org: org, Venue: venue, Box: box, Kind: k}.String()
}

// VenueTopic returns the venue-level topic of kind k.
func VenueTopic(org, venue string, k Kind) string {
	return Topic{Org: org, Venue: venue, Kind: k}.String()
}

// VenueBoxesFilter returns the filter matching kind k of every box at a venue.
func VenueBoxesFilter(org, venue string, k Kind) string {
	return Root + "/" + org + "/" + venue + "/+/" + string(k)
}

// AllBoxesFilter returns the filter matching kind k of every box of every
// organisation and venue, as HQ subscribes to it.
func AllBoxesFilter(k Kind) string { return Root + "/+/+/+/" + string(k) }

// Shared prefixes filter with a shared-subscription group, so that several
// HQ processes split the messages between them. An empty group returns the
// filter unchanged.
func Shared(group, filter string) string {
	if group == "" {
		return filter
	}
	return "$share/" + group + "/" + filter
}

var boxKinds = map[Kind]bool{KindCheckins: true, KindAck: true, KindState: true, KindManifestReq: true, KindManifest: true, KindAudit: true}
var venueKinds = map[Kind]bool{KindManifest: true, KindRevoke: true}

// ParseTopic parses a topic name as written by String. It refuses names
// with another root, wildcards, bad identifiers or an unknown kind.
func ParseTopic(s string) (Topic, error) {
	if len(s) > 512 {
		return Topic{}, fmt.Errorf("wire: parse topic: %w: too long", ErrInvalid)
	}
	parts := strings.Split(s, "/")
	if parts[0] != Root {
		return Topic{}, fmt.Errorf("wire: parse topic %q: %w: root", s, ErrInvalid)
	}
	var t Topic
	switch len(parts) {
	case 4:
		t = Topic{Org: parts[1], Venue: parts[2], Kind: Kind(parts[3])}
		if !venueKinds[t.Kind] {
			return Topic{}, fmt.Errorf("wire: parse topic %q: %w: kind", s, ErrInvalid)
		}
	case 5:
		t = Topic{Org: parts[1], Venue: parts[2], Box: parts[3], Kind: Kind(parts[4])}
		if !boxKinds[t.Kind] {
			return Topic{}, fmt.Errorf("wire: parse topic %q: %w: kind", s, ErrInvalid)
		}
		if err := ValidID(t.Box); err != nil {
			return Topic{}, fmt.Errorf("wire: parse topic %q: box: %w", s, err)
		}
	default:
		return Topic{}, fmt.Errorf("wire: parse topic %q: %w: levels", s, ErrInvalid)
	}
	if err := ValidID(t.Org); err != nil {
		return Topic{}, fmt.Errorf("wire: parse topic %q: org: %w", s, err)
	}
	if err := ValidID(t.Venue); err != nil {
		return Topic{}, fmt.Errorf("wire: parse topic %q: venue: %w", s, err)
	}
	return t, nil
}

// MaxID is the longest organisation, venue, box, gate or event identifier.
const MaxID = 64

// ValidID reports whether s can be an identifier and a topic level:
// 1 to MaxID characters from a-z, A-Z, 0-9, '-', '_' and '.'.
func ValidID(s string) error {
	if s == "" || len(s) > MaxID {
		return fmt.Errorf("%w: identifier length %d", ErrInvalid, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			continue
		}
		return fmt.Errorf("%w: identifier has byte %#x", ErrInvalid, c)
	}
	return nil
}
