package config

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"venuebox/cmd/internal/ticket"
)

// Staff is who may act at the kiosk (log in, look up, override, confirm a
// fever hold) and how hard guessing is.
type Staff struct {
	// PINs maps a staff id (1 to 64 bytes of A-Z a-z 0-9 . _ -) to the hash
	// of that person's PIN as HashPIN writes it. No two staff share a PIN,
	// so a PIN alone tells who acted.
	PINs map[string]string `yaml:"pins"`
	// Cards are the staff cards, each as HashCard writes it.
	Cards []string `yaml:"cards"`
	// MaxAttempts is how many wrong PINs in a row lock the kiosk's staff
	// login for Lockout; default 5, within 1..100.
	MaxAttempts int `yaml:"max_attempts"`
	// Lockout is how long the login stays locked; default 5m, at most 24h.
	Lockout time.Duration `yaml:"lockout"`
	// Session is how long a staff login lasts without activity; default
	// 10m, at most 24h.
	Session time.Duration `yaml:"session"`
}

// Staff defaults and limits.
const (
	defaultMaxAttempts = 5
	maxMaxAttempts     = 100
	defaultLockout     = 5 * time.Minute
	defaultSession     = 10 * time.Minute
	maxStaffDuration   = 24 * time.Hour
)

// hashPrefix starts every PIN and card hash.
const hashPrefix = "sha256:"

// HashPIN returns the form in which the config stores a staff PIN:
// "sha256:" and the lower-case hex SHA-256 of the PIN's bytes, as
//
//	printf %s 1234 | sha256sum
//
// prints it.
func HashPIN(pin string) string {
	sum := sha256.Sum256([]byte(pin))
	return hashPrefix + hex.EncodeToString(sum[:])
}

// HashCard returns the form in which the config stores a staff card:
// "sha256:" and the lower-case hex SHA-256 of the card's UID in canonical
// form (ticket.NormalizeUID: upper-case hex without separators), so that
// "04:a1:b2:c3" and "04A1B2C3" are the same card.
func HashCard(uid string) string {
	sum := sha256.Sum256([]byte(ticket.NormalizeUID(uid)))
	return hashPrefix + hex.EncodeToString(sum[:])
}

func (s *Staff) defaults() {
	if s.MaxAttempts == 0 {
		s.MaxAttempts = defaultMaxAttempts
	}
	if s.Lockout == 0 {
		s.Lockout = defaultLockout
	}
	if s.Session == 0 {
		s.Session = defaultSession
	}
	if len(s.PINs) == 0 {
		s.PINs = nil
	}
	if len(s.Cards) == 0 {
		s.Cards = nil
	}
	// Hex digits compare as written: store them in one case.
	for id, h := range s.PINs {
		if validHash(h) {
			s.PINs[id] = strings.ToLower(h)
		}
	}
	for i, h := range s.Cards {
		if validHash(h) {
			s.Cards[i] = strings.ToLower(h)
		}
	}
}

func (s *Staff) validate(path string) *Error {
	byHash := map[string]string{}
	for _, id := range slices.Sorted(maps.Keys(s.PINs)) {
		key := join(path+".pins", id)
		if e := topicLevel(key, id, true); e != nil {
			e.Problem = "staff id " + e.Problem
			return e
		}
		h := s.PINs[id]
		if e := hashValue(key, h, "PIN", "printf %s PIN | sha256sum"); e != nil {
			return e
		}
		if other, dup := byHash[h]; dup {
			return errorf(key, "same PIN as %s", join(path+".pins", other))
		}
		byHash[h] = id
	}
	seen := map[string]int{}
	for i, h := range s.Cards {
		key := path + ".cards[" + strconv.Itoa(i) + "]"
		if e := hashValue(key, h, "card UID", "printf %s 04A1B2C3 | sha256sum, the UID in upper-case hex without separators"); e != nil {
			return e
		}
		if j, dup := seen[h]; dup {
			return errorf(key, "same card as %s.cards[%d]", path, j)
		}
		seen[h] = i
	}
	if s.MaxAttempts < 1 || s.MaxAttempts > maxMaxAttempts {
		return errorf(path+".max_attempts", "%d is not within 1..%d", s.MaxAttempts, maxMaxAttempts)
	}
	if e := duration(path+".lockout", s.Lockout, maxStaffDuration); e != nil {
		return e
	}
	return duration(path+".session", s.Session, maxStaffDuration)
}

// hashValue checks a "sha256:<64 hex>" value. It never repeats the value:
// it may be a PIN written in clear.
func hashValue(key, h, what, how string) *Error {
	switch {
	case validHash(h):
		return nil
	case h == "":
		return errorf(key, "empty; want \"sha256:\" and the hex SHA-256 of the %s", what)
	case strings.HasPrefix(h, hashPrefix):
		return errorf(key, "want \"sha256:\" and 64 hex digits")
	case strings.Contains(h, ":") || strings.HasPrefix(h, "pbkdf2") || strings.HasPrefix(h, "$"):
		return errorf(key, "only \"sha256:<hex>\" hashes are supported")
	}
	return errorf(key, "looks like a %s in clear; write its hash instead: \"sha256:\" and the output of %s", what, how)
}

func validHash(h string) bool {
	hexPart, ok := strings.CutPrefix(h, hashPrefix)
	if !ok || len(hexPart) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(hexPart)
	return err == nil
}
