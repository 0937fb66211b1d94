// Package enrol is what HQ and a box share to enrol the box: the text of
// the one-time enrolment QR, the request the box sends and HQ's answer.
//
// HQ makes an enrolment for VENUE/BOX and shows a QR whose text is
//
//	VBE1:<HQ base URL>#<token>.<pin>
//
// token is 128 random bits in hex: it authorises one request to
// <HQ base URL>/api/enrol within 15 minutes. pin is the SHA-256 of the
// Bundle HQ will answer with (identity, broker, CA and trusted keys), so
// that the box takes nothing HQ did not put in the QR even over plain HTTP.
// The box makes its own EC P-256 key, sends a CSR with the token, and HQ
// answers with the Bundle and the certificate it signed (CN VENUE/BOX, as
// scripts/provision names boxes).
package enrol

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Prefix starts the text of every enrolment QR.
const Prefix = "VBE1:"

// Path is where the box sends its Request, under HQ's base URL.
const Path = "/api/enrol"

// TokenBytes is the size of an enrolment token before hex.
const TokenBytes = 16

// Request is what the box POSTs to Path.
type Request struct {
	Token string `json:"token"`
	CSR   string `json:"csr"` // PEM CERTIFICATE REQUEST of the box's own key
}

// Bundle is what HQ tells the box besides its certificate; the QR's pin is
// its hash.
type Bundle struct {
	Org       string   `json:"org"`
	Venue     string   `json:"venue"`
	Box       string   `json:"box"`
	BrokerURL string   `json:"broker_url"`
	CACert    string   `json:"ca_cert"` // PEM: the broker's and every box's CA
	Trust     []string `json:"trust"`   // PEM Ed25519 public keys, as signing.pub files
}

// Response is HQ's answer to a Request.
type Response struct {
	Bundle
	Cert string `json:"cert"` // PEM: the box's client certificate
}

// Pin is the hex SHA-256 of the bundle's JSON.
func (b Bundle) Pin() string {
	raw, _ := json.Marshal(b) // a struct of strings always marshals
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// QR is the text of an enrolment QR.
func QR(baseURL, token, pin string) string {
	return Prefix + strings.TrimRight(baseURL, "/") + "#" + token + "." + pin
}

// ParseQR splits the text of an enrolment QR into HQ's base URL, the token
// and the pin, and checks each.
func ParseQR(s string) (baseURL, token, pin string, err error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, Prefix)
	if !ok {
		return "", "", "", fmt.Errorf("enrol: not an enrolment code (it does not start with %s)", Prefix)
	}
	i := strings.LastIndexByte(rest, '#')
	if i < 0 {
		return "", "", "", errors.New("enrol: enrolment code without #token")
	}
	baseURL, secret := rest[:i], rest[i+1:]
	token, pin, ok = strings.Cut(secret, ".")
	if !ok || !isHex(token, 2*TokenBytes) || !isHex(pin, 2*sha256.Size) {
		return "", "", "", errors.New("enrol: enrolment code with a malformed token or pin")
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
		return "", "", "", fmt.Errorf("enrol: enrolment code with a bad HQ URL %q", baseURL)
	}
	return baseURL, token, pin, nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}
