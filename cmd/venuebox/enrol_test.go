package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/hq"
	"venuebox/cmd/internal/ticket"
	"venuebox/device"
	"venuebox/device/sim"
)

const enrolTestToken = "0123456789abcdef-enrol-test"

// startEnrolHQ runs an HQ with enrolment and a CA made here, and returns
// its URL and the CA.
func startEnrolHQ(t *testing.T) (string, *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	if _, err := ticket.GenerateKey(dir); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "token"), []byte(enrolTestToken), 0o600)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{Organization: []string{"acme"}, CommonName: "venuebox acme CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key) // "EC PRIVATE KEY", as older openssl writes
	os.WriteFile(filepath.Join(dir, "ca.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, "ca.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	h, err := hq.Start(&config.HQ{StateDir: filepath.Join(dir, "hq"), HTTP: config.HTTP{Listen: "127.0.0.1:0"},
		SigningKey: filepath.Join(dir, "signing.key"), TokenFile: filepath.Join(dir, "token"),
		Store: config.Store{Driver: config.StoreBbolt},
		Enrol: &config.Enrol{Org: "acme", CACert: filepath.Join(dir, "ca.crt"), CAKey: filepath.Join(dir, "ca.key"),
			BrokerURL: "tls://broker.example:8883"}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	ca, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return "http://" + h.Addr.String(), pool
}

func newEnrolment(t *testing.T, api, venue, box string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"venue": venue, "box": box})
	req, _ := http.NewRequest("POST", api+"/api/enrolments", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+enrolTestToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c struct {
		QRText string `json:"qr_text"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &c) != nil {
		t.Fatalf("create: %s %s", resp.Status, raw)
	}
	return c.QRText
}

// checkEnrolled loads the configuration written in dir and checks the
// identity, the certificate against the CA and that it matches the key.
func checkEnrolled(t *testing.T, cfgPath, state string, pool *x509.CertPool) *config.Box {
	t.Helper()
	b, err := config.LoadBox(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if b.Box.Org != "acme" || b.Box.Venue != "sh-pudong" || b.Box.ID != "gate-1" || b.StateDir != state ||
		b.MQTT.URL != "tls://broker.example:8883" || len(b.Trust) != 1 {
		t.Fatalf("config %+v", b)
	}
	if _, err := ticket.LoadPublicKey(b.Trust[0]); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(b.MQTT.Cert, b.MQTT.Key) // the key matches the certificate
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(pair.Certificate[0])
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "sh-pudong/gate-1" {
		t.Fatalf("CN %q", cert.Subject.CommonName)
	}
	if fi, err := os.Stat(b.MQTT.Key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v %v", fi.Mode(), err)
	}
	caPEM, _ := os.ReadFile(b.MQTT.CA)
	if !x509.NewCertPool().AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt holds no certificate")
	}
	return b
}

func TestEnrol_code(t *testing.T) {
	api, pool := startEnrolHQ(t)
	qr := newEnrolment(t, api, "sh-pudong", "gate-1")
	dir := t.TempDir()
	cfg, state := filepath.Join(dir, "etc", "venuebox.yaml"), filepath.Join(dir, "state")
	var out, errb bytes.Buffer
	if code := runEnrol([]string{"-config-out", cfg, "-state", state, "-code", qr}, &out, &errb); code != exitOK {
		t.Fatalf("enrol: %d %s", code, errb.String())
	}
	checkEnrolled(t, cfg, state, pool)

	// The same QR again, into another directory: HQ refuses it.
	other := filepath.Join(t.TempDir(), "venuebox.yaml")
	errb.Reset()
	if code := runEnrol([]string{"-config-out", other, "-state", state, "-code", qr}, &out, &errb); code != exitFail ||
		!strings.Contains(errb.String(), "410") {
		t.Fatalf("reuse: %d %s", code, errb.String())
	}
	if _, err := os.Stat(other); err == nil {
		t.Fatal("a refused enrolment wrote a configuration")
	}
	// Written files are never overwritten.
	errb.Reset()
	if code := runEnrol([]string{"-config-out", cfg, "-state", state, "-code", newEnrolment(t, api, "sh-pudong", "gate-1")}, &out, &errb); code != exitUsage {
		t.Fatalf("over an enrolment: %d %s", code, errb.String())
	}
	// A QR whose pin does not match HQ's answer is refused by the box.
	tampered := qr[:len(qr)-1] + map[bool]string{true: "1", false: "0"}[qr[len(qr)-1] == '0']
	errb.Reset()
	if code := runEnrol([]string{"-config-out", other, "-state", state, "-code", tampered}, &out, &errb); code != exitFail {
		t.Fatalf("tampered pin: %d %s", code, errb.String())
	}
	for _, bad := range [][]string{{"-state", state, "-code", qr}, {"-config-out", other, "-state", state}, {"-config-out", other, "-state", state, "-code", "hello"}} {
		if code := runEnrol(bad, &out, io.Discard); code != exitUsage {
			t.Errorf("%q: %d", bad, code)
		}
	}
}

// TestEnrol_scanner reads the QR through a (simulated) scanner, skipping
// a ticket scanned by mistake, and keeps the scanner in the configuration.
func TestEnrol_scanner(t *testing.T) {
	api, pool := startEnrolHQ(t)
	qr := newEnrolment(t, api, "sh-pudong", "gate-1")
	s := sim.NewScanner("enrol")
	s.Feed(context.Background(), "NOT-AN-ENROLMENT-CODE")
	s.Feed(context.Background(), qr)
	var opened *config.Scanner
	old := enrolScanner
	enrolScanner = func(c *config.Scanner) (device.Scanner, io.Closer, error) { opened = c; return s, nil, nil }
	t.Cleanup(func() { enrolScanner = old })
	dir := t.TempDir()
	cfg, state := filepath.Join(dir, "venuebox.yaml"), filepath.Join(dir, "state")
	var errb bytes.Buffer
	if code := runEnrol([]string{"-config-out", cfg, "-state", state, "-scanner", "serial:/dev/venuebox-scanner"}, io.Discard, &errb); code != exitOK {
		t.Fatalf("enrol: %d %s", code, errb.String())
	}
	if opened == nil || opened.Port != "/dev/venuebox-scanner" {
		t.Fatalf("scanner opened: %+v", opened)
	}
	b := checkEnrolled(t, cfg, state, pool)
	if sc := b.Devices.Scanner; sc == nil || sc.Driver != "serial" || sc.Port != "/dev/venuebox-scanner" || sc.Baud != 115200 {
		t.Fatalf("scanner in the configuration: %+v", sc)
	}
}
