package hq

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/enrol"
	"venuebox/cmd/internal/ticket"
	"venuebox/sync/wire"
)

// Enrolment (cmd/internal/enrol). An operator asks for a one-time QR for
// VENUE/BOX; the box scans it and sends its CSR with the token; HQ signs
// the box's key with the CA of its configuration (CN VENUE/BOX, OU box, as
// scripts/provision) and answers with the bundle pinned in the QR.
//
// Pending enrolments live in memory, as the token's SHA-256 only: a restart
// voids every QR not yet used. Each token works once, for enrolTTL.
const (
	enrolTTL      = 15 * time.Minute
	enrolKeep     = time.Hour // how long a used or expired enrolment is remembered, to answer 410
	enrolCertDays = 825       // as scripts/provision
	enrolQRSize   = 400
	maxPending    = 1000
)

type enrolments struct {
	org, brokerURL, hqURL string
	caPEM                 string
	ca                    *x509.Certificate
	caKey                 crypto.Signer
	extraTrust            []string // PEM public keys from the configuration

	mu      sync.Mutex
	now     func() time.Time // time.Now but in tests
	pending []*pendingEnrol
}

// clock is e.now, for a caller not holding e.mu.
func (e *enrolments) clock() time.Time {
	e.mu.Lock()
	now := e.now
	e.mu.Unlock()
	return now()
}

type pendingEnrol struct {
	id      string
	hash    [sha256.Size]byte
	bundle  enrol.Bundle
	expires time.Time
	used    bool
}

// newEnrolments loads the CA and trust files of cfg; nil cfg disables
// enrolment.
func newEnrolments(cfg *config.Enrol) (*enrolments, error) {
	if cfg == nil {
		return nil, nil
	}
	caPEM, err := os.ReadFile(cfg.CACert)
	if err != nil {
		return nil, fmt.Errorf("hq: enrol: %w", err)
	}
	block, _ := pem.Decode(caPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("hq: enrol: %s holds no PEM certificate", cfg.CACert)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("hq: enrol: %s: %w", cfg.CACert, err)
	}
	if !ca.IsCA {
		return nil, fmt.Errorf("hq: enrol: %s is not a CA certificate", cfg.CACert)
	}
	keyPEM, err := os.ReadFile(cfg.CAKey)
	if err != nil {
		return nil, fmt.Errorf("hq: enrol: %w", err)
	}
	key, err := parseSigner(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("hq: enrol: %s: %w", cfg.CAKey, err)
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(ca.PublicKey) {
		return nil, fmt.Errorf("hq: enrol: %s is not the key of %s", cfg.CAKey, cfg.CACert)
	}
	e := &enrolments{org: cfg.Org, brokerURL: cfg.BrokerURL, hqURL: cfg.HQURL, caPEM: string(caPEM), ca: ca, caKey: key, now: time.Now}
	for _, f := range cfg.Trust {
		pub, err := ticket.LoadPublicKey(f)
		if err != nil {
			return nil, fmt.Errorf("hq: enrol: %w", err)
		}
		e.extraTrust = append(e.extraTrust, pubPEM(pub))
	}
	return e, nil
}

func parseSigner(raw []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%T cannot sign", k)
	}
	return s, nil
}

func pubPEM(pub ed25519.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub) // an Ed25519 key always marshals
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// mountEnrol adds the enrolment routes to mux.
func (h *HQ) mountEnrol(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/enrolments", h.allow(RoleOperator, h.serveEnrolCreate))
	mux.HandleFunc("POST "+enrol.Path, h.serveEnrol)
}

// trustPEMs are the public halves of every signing key HQ lists (current,
// older and next), then the configuration's trust files.
func (h *HQ) trustPEMs() ([]string, error) {
	o := h.office
	o.mu.Lock()
	keys := append([]keyEntry(nil), o.keys.Keys...)
	cur := o.priv
	o.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	add(pubPEM(cur.Public().(ed25519.PublicKey)))
	for _, k := range keys {
		priv, err := ticket.LoadPrivateKey(k.Path)
		if err != nil {
			return nil, err
		}
		add(pubPEM(priv.Public().(ed25519.PublicKey)))
	}
	for _, p := range h.enrol.extraTrust {
		add(p)
	}
	return out, nil
}

// serveEnrolCreate makes a one-time enrolment (operator): {"venue", "box"}
// → {"id", "venue", "box", "expires", "qr_text", "qr_png" (base64)}.
func (h *HQ) serveEnrolCreate(w http.ResponseWriter, r *http.Request) {
	e := h.enrol
	if e == nil {
		h.fail(w, http.StatusNotImplemented, "enrolment needs enrol: in HQ's configuration", nil)
		return
	}
	var req struct {
		Venue string `json:"venue"`
		Box   string `json:"box"`
	}
	if err := decodeBody(w, r, &req); err != nil || wire.ValidID(req.Venue) != nil || wire.ValidID(req.Box) != nil ||
		req.Venue == "." || req.Venue == ".." || req.Box == "." || req.Box == ".." {
		h.fail(w, http.StatusBadRequest, `body must be {"venue", "box"}, each 1 to 64 of A-Z a-z 0-9 - _ .`, err)
		return
	}
	trust, err := h.trustPEMs()
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "signing keys unreadable", err)
		return
	}
	base := e.hqURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	secret := make([]byte, enrol.TokenBytes)
	rand.Read(secret) // crypto/rand.Read never fails
	token := hex.EncodeToString(secret)
	idb := make([]byte, 6)
	rand.Read(idb)
	p := &pendingEnrol{id: hex.EncodeToString(idb), hash: sha256.Sum256([]byte(token)), expires: e.clock().Add(enrolTTL),
		bundle: enrol.Bundle{Org: e.org, Venue: req.Venue, Box: req.Box, BrokerURL: e.brokerURL, CACert: e.caPEM, Trust: trust}}
	text := enrol.QR(base, token, p.bundle.Pin())
	png, err := ticket.EncodePNG(text, enrolQRSize)
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "QR not made", err)
		return
	}
	e.mu.Lock()
	e.prune()
	if len(e.pending) >= maxPending {
		e.mu.Unlock()
		h.fail(w, http.StatusTooManyRequests, "too many enrolments pending", nil)
		return
	}
	e.pending = append(e.pending, p)
	e.mu.Unlock()
	note(w, "enrolment %s for %s/%s, expires %s", p.id, req.Venue, req.Box, p.expires.UTC().Format(time.RFC3339))
	writeJSON(w, http.StatusOK, map[string]any{"id": p.id, "venue": req.Venue, "box": req.Box, "expires": p.expires,
		"qr_text": text, "qr_png": base64.StdEncoding.EncodeToString(png)})
}

// prune forgets enrolments expired more than enrolKeep ago; e.mu is held.
func (e *enrolments) prune() {
	now := e.now()
	kept := e.pending[:0]
	for _, p := range e.pending {
		if now.Before(p.expires.Add(enrolKeep)) {
			kept = append(kept, p)
		}
	}
	clear(e.pending[len(kept):])
	e.pending = kept
}

// take finds the enrolment of token and marks it used: at most one caller
// ever gets it. It returns the HTTP status of a refusal.
func (e *enrolments) take(token string) (*pendingEnrol, int, string) {
	sum := sha256.Sum256([]byte(token))
	e.mu.Lock()
	defer e.mu.Unlock()
	var found *pendingEnrol
	for _, p := range e.pending {
		if subtle.ConstantTimeCompare(sum[:], p.hash[:]) == 1 {
			found = p
		}
	}
	switch {
	case found == nil:
		return nil, http.StatusUnauthorized, "unknown enrolment token"
	case found.used:
		return found, http.StatusGone, "enrolment token already used"
	case !e.now().Before(found.expires):
		return found, http.StatusGone, "enrolment token expired"
	}
	found.used = true
	return found, http.StatusOK, ""
}

// serveEnrol is the box's request: {"token", "csr"} → enrol.Response. The
// token is the only credential; every outcome is in HQ's log.
func (h *HQ) serveEnrol(w http.ResponseWriter, r *http.Request) {
	e := h.enrol
	if e == nil {
		h.fail(w, http.StatusNotImplemented, "enrolment is not configured at this HQ", nil)
		return
	}
	var req enrol.Request
	r = r.WithContext(withActor(r, actor{id: "enrolment"}))
	refuse := func(code int, msg, subject string, err error) {
		detail := msg
		if err != nil {
			detail += ": " + err.Error()
		}
		h.audit(r, "enrol", subject, code, detail)
		if code == http.StatusUnauthorized || code == http.StatusGone {
			time.Sleep(300 * time.Millisecond) // slows guessing
		}
		h.fail(w, code, msg, err)
	}
	if err := decodeBody(w, r, &req); err != nil || req.Token == "" || req.CSR == "" {
		refuse(http.StatusBadRequest, `body must be {"token", "csr"}`, "enrolment", err)
		return
	}
	pub, err := parseCSR(req.CSR)
	if err != nil {
		refuse(http.StatusBadRequest, "CSR refused", "enrolment", err)
		return
	}
	p, code, msg := e.take(req.Token)
	if code != http.StatusOK {
		subject := "enrolment"
		if p != nil {
			subject = "enrolment " + p.id + " for " + p.bundle.Venue + "/" + p.bundle.Box
		}
		refuse(code, msg, subject, nil)
		return
	}
	subject := "enrolment " + p.id + " for " + p.bundle.Venue + "/" + p.bundle.Box
	cert, err := e.sign(pub, p.bundle)
	if err != nil {
		// The token is spent: the box needs a new QR.
		refuse(http.StatusInternalServerError, "certificate not issued", subject, err)
		return
	}
	h.audit(r, "enrol", subject, http.StatusOK, "certificate issued for CN "+p.bundle.Venue+"/"+p.bundle.Box)
	writeJSON(w, http.StatusOK, enrol.Response{Bundle: p.bundle, Cert: cert})
}

// parseCSR checks a CSR (its own signature; an EC P-256 key) and returns
// its key. The CSR's subject is ignored.
func parseCSR(csrPEM string) (*ecdsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(csrPEM))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("no PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, err
	}
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("the key must be EC P-256")
	}
	return pub, nil
}

// sign issues a box client certificate for pub, named as b says.
func (e *enrolments) sign(pub *ecdsa.PublicKey, b enrol.Bundle) (string, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return "", err
	}
	now := e.clock()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{b.Org}, OrganizationalUnit: []string{"box"}, CommonName: b.Venue + "/" + b.Box},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(enrolCertDays * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, e.ca, pub, e.caKey)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))) + "\n", nil
}
