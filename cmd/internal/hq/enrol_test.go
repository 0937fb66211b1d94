package hq

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/enrol"
	"venuebox/cmd/internal/ticket"
)

// writeTestCA writes a CA like scripts/provision's (EC P-256, O=org) as
// dir/ca.crt and dir/ca.key.
func writeTestCA(t *testing.T, dir, org string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{Organization: []string{org}, CommonName: "venuebox " + org + " CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	os.WriteFile(filepath.Join(dir, "ca.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, "ca.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	ca, _ := x509.ParseCertificate(der)
	return ca
}

type enrolHQ struct {
	t   *testing.T
	h   *HQ
	api string
	ca  *x509.Certificate
}

func startEnrolHQ(t *testing.T) *enrolHQ {
	dir := t.TempDir()
	if _, err := ticket.GenerateKey(dir); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "token"), []byte(testToken), 0o600)
	ca := writeTestCA(t, dir, "acme")
	h, err := Start(&config.HQ{StateDir: filepath.Join(dir, "hq"), HTTP: config.HTTP{Listen: "127.0.0.1:0"},
		SigningKey: filepath.Join(dir, "signing.key"), TokenFile: filepath.Join(dir, "token"),
		Store: config.Store{Driver: config.StoreBbolt},
		Enrol: &config.Enrol{Org: "acme", CACert: filepath.Join(dir, "ca.crt"), CAKey: filepath.Join(dir, "ca.key"),
			BrokerURL: "tls://broker.example:8883"}}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	run(t, "hq", h)
	return &enrolHQ{t: t, h: h, api: "http://" + h.Addr.String(), ca: ca}
}

func (e *enrolHQ) post(path, token string, body, out any) int {
	e.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", e.api+path, bytes.NewReader(raw))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s: %v: %s", path, err, b)
		}
	}
	return resp.StatusCode
}

type created struct {
	ID     string `json:"id"`
	QRText string `json:"qr_text"`
	QRPNG  string `json:"qr_png"`
}

func (e *enrolHQ) create(venue, box string) created {
	e.t.Helper()
	var c created
	if code := e.post("/api/enrolments", testToken, map[string]string{"venue": venue, "box": box}, &c); code != http.StatusOK {
		e.t.Fatalf("create: %d", code)
	}
	return c
}

func testCSR(t *testing.T, cn string) (*ecdsa.PrivateKey, string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// TestEnrol makes an enrolment, checks its QR, redeems it once (with a
// CSR that names another box, which is ignored), and sees a reuse, a wrong
// token and an expired token refused and in HQ's log.
func TestEnrol(t *testing.T) {
	e := startEnrolHQ(t)
	if code := e.post("/api/enrolments", "", map[string]string{"venue": "sh-pudong", "box": "gate-1"}, nil); code != http.StatusUnauthorized {
		t.Fatalf("without the HQ token: %d", code)
	}
	if code := e.post("/api/enrolments", testToken, map[string]string{"venue": "a/b", "box": "gate-1"}, nil); code != http.StatusBadRequest {
		t.Fatalf("bad venue: %d", code)
	}
	c := e.create("sh-pudong", "gate-1")
	if len(c.QRText) > 200 {
		t.Errorf("QR text is %d characters", len(c.QRText))
	}
	png, _ := base64.StdEncoding.DecodeString(c.QRPNG)
	if got, err := ticket.DecodePNG(png); err != nil || got != c.QRText {
		t.Fatalf("QR PNG decodes to %q, %v; want %q", got, err, c.QRText)
	}
	base, token, pin, err := enrol.ParseQR(c.QRText)
	if err != nil || base != e.api {
		t.Fatalf("ParseQR: %q %v", base, err)
	}

	wrong := strings.Repeat("0", 2*enrol.TokenBytes)
	key, csr := testCSR(t, "other-venue/gate-9")
	if code := e.post(enrol.Path, "", enrol.Request{Token: wrong, CSR: csr}, nil); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", code)
	}
	if code := e.post(enrol.Path, "", enrol.Request{Token: token, CSR: "junk"}, nil); code != http.StatusBadRequest {
		t.Fatalf("bad CSR: %d", code)
	}
	var res enrol.Response
	if code := e.post(enrol.Path, "", enrol.Request{Token: token, CSR: csr}, &res); code != http.StatusOK {
		t.Fatalf("enrol: %d", code) // the bad CSR above did not spend the token
	}
	if res.Pin() != pin || res.Org != "acme" || res.Venue != "sh-pudong" || res.Box != "gate-1" || res.BrokerURL != "tls://broker.example:8883" || len(res.Trust) != 1 {
		t.Fatalf("bundle %+v", res.Bundle)
	}
	block, _ := pem.Decode([]byte(res.Cert))
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(e.ca)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "sh-pudong/gate-1" || cert.Subject.OrganizationalUnit[0] != "box" || !key.PublicKey.Equal(cert.PublicKey) {
		t.Fatalf("certificate %v for the wrong key or name", cert.Subject)
	}
	if code := e.post(enrol.Path, "", enrol.Request{Token: token, CSR: csr}, nil); code != http.StatusGone {
		t.Fatalf("reuse: %d", code)
	}

	late := e.create("sh-pudong", "gate-2")
	_, lateToken, _, _ := enrol.ParseQR(late.QRText)
	e.h.enrol.mu.Lock()
	e.h.enrol.now = func() time.Time { return time.Now().Add(enrolTTL + time.Second) }
	e.h.enrol.mu.Unlock()
	if code := e.post(enrol.Path, "", enrol.Request{Token: lateToken, CSR: csr}, nil); code != http.StatusGone {
		t.Fatalf("expired: %d", code)
	}

	req, _ := http.NewRequest("GET", e.api+"/api/log", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var log struct {
		Log []struct{ Kind, Actor, Subject, Verdict, Reason, Detail string }
	}
	json.NewDecoder(resp.Body).Decode(&log)
	var lines []string
	for _, l := range log.Log {
		if l.Kind == "enrol" || strings.Contains(l.Subject, "enrolments") {
			lines = append(lines, l.Verdict+" "+l.Reason+" "+l.Subject+": "+l.Detail)
		}
	}
	got := strings.Join(lines, "\n")
	for _, want := range []string{
		"ok 200 POST /api/enrolments: enrolment " + c.ID + " for sh-pudong/gate-1",
		"refused 401 enrolment: unknown enrolment token",
		"refused 400 enrolment: CSR refused",
		"ok 200 enrolment " + c.ID + " for sh-pudong/gate-1: certificate issued for CN sh-pudong/gate-1",
		"refused 410 enrolment " + c.ID + " for sh-pudong/gate-1: enrolment token already used",
		"refused 410 enrolment " + late.ID + " for sh-pudong/gate-2: enrolment token expired",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("HQ's log lacks %q:\n%s", want, got)
		}
	}
}
