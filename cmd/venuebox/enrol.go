package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/enrol"
	"venuebox/cmd/internal/hardware"
	"venuebox/cmd/internal/ticket"
	"venuebox/device"
)

func init() {
	commands["enrol"] = command{summary: "enrol this box from HQ's one-time enrolment QR", run: runEnrol}
}

// Files enrol writes beside the configuration.
const (
	enrolKeyFile  = "box.key"
	enrolCertFile = "box.crt"
	enrolCAFile   = "ca.crt"
)

// enrolScanner opens the scanner for -scanner; tests replace it.
var enrolScanner = func(c *config.Scanner) (device.Scanner, io.Closer, error) {
	open, err := hardware.Scanner(context.Background(), c, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, nil, err
	}
	return open()
}

func runEnrol(args []string, stdout, stderr io.Writer) int {
	f := newFlags("enrol", "-config-out FILE -state DIR (-scanner DRIVER:DEVICE | -code TEXT)",
		"Enrols this box: reads HQ's one-time enrolment QR with the box's scanner (or takes its\n"+
			"text with -code), makes the box's own EC P-256 key (it never leaves the box), and sends\n"+
			"a certificate request with the QR's token to HQ. HQ answers with the box's identity\n"+
			"(org, venue, box), the broker, the CA, a certificate for the key and the public keys\n"+
			"to trust, all checked against the pin in the QR. Writes, beside FILE: "+enrolKeyFile+" (0600),\n"+
			enrolCertFile+", "+enrolCAFile+", trust-KEYID.pub, and FILE itself: a box configuration that\n"+
			"venueboxd loads (add staff, policy and the other devices to it). Nothing is overwritten.\n"+
			"A QR works once and for 15 minutes; ask HQ for a new one otherwise.")
	out := f.String("config-out", "", "box configuration `FILE` to write (must not exist)")
	state := f.String("state", "", "the box's state `DIR` (state_dir in the configuration)")
	scanner := f.String("scanner", "", "read the QR with the scanner `DRIVER:DEVICE`: serial:/dev/venuebox-scanner or evdev:/dev/input/...; it goes into the configuration too")
	code := f.String("code", "", "the QR's `TEXT`, typed or pasted, instead of scanning")
	wait := f.Duration("wait", 10*time.Minute, "how long to wait for a scan")
	if code, ok := f.parse(args, stdout, stderr); !ok {
		return code
	}
	if f.NArg() > 0 {
		return f.fail(stderr, exitUsage, fmt.Errorf("unexpected argument %q", f.Arg(0)))
	}
	if *out == "" || *state == "" {
		return f.fail(stderr, exitUsage, errors.New("-config-out and -state are required"))
	}
	if (*scanner == "") == (*code == "") {
		return f.fail(stderr, exitUsage, errors.New("give -scanner or -code, one of them"))
	}
	var sc *config.Scanner
	if *scanner != "" {
		var err error
		if sc, err = parseScannerFlag(*scanner); err != nil {
			return f.fail(stderr, exitUsage, err)
		}
	}
	dir := filepath.Dir(*out)
	for _, name := range []string{*out, filepath.Join(dir, enrolKeyFile), filepath.Join(dir, enrolCertFile), filepath.Join(dir, enrolCAFile)} {
		if _, err := os.Lstat(name); err == nil {
			return f.fail(stderr, exitUsage, fmt.Errorf("%s already exists; enrol never overwrites", name))
		}
	}
	text := *code
	if sc != nil {
		var err error
		fmt.Fprintf(stdout, "scan the enrolment QR that HQ shows (waiting %v)\n", *wait)
		if text, err = scanEnrolment(sc, *wait); err != nil {
			return f.fail(stderr, exitFail, err)
		}
	}
	base, token, pin, err := enrol.ParseQR(text)
	if err != nil {
		return f.fail(stderr, exitUsage, err)
	}
	res, key, err := requestEnrolment(base, token, pin)
	if err != nil {
		return f.fail(stderr, exitFail, err)
	}
	if err := writeEnrolment(*out, *state, sc, base, res, key); err != nil {
		return f.fail(stderr, exitFail, err)
	}
	fmt.Fprintf(stdout, "enrolled as %s/%s of %s: wrote %s, %s (secret), %s, %s and %d trusted keys\n",
		res.Venue, res.Box, res.Org, *out, filepath.Join(dir, enrolKeyFile), enrolCertFile, enrolCAFile, len(res.Trust))
	return exitOK
}

// parseScannerFlag turns serial:PORT or evdev:DEVICE into a scanner
// configuration, with the defaults a box configuration gives.
func parseScannerFlag(s string) (*config.Scanner, error) {
	driver, dev, ok := strings.Cut(s, ":")
	if !ok || dev == "" {
		return nil, fmt.Errorf("-scanner %q: want serial:PORT or evdev:DEVICE", s)
	}
	switch driver {
	case config.ScannerSerial:
		return &config.Scanner{Driver: driver, Port: dev, Baud: 115200, Suffix: config.SuffixCR}, nil
	case config.ScannerEvdev:
		return &config.Scanner{Driver: driver, Device: dev}, nil
	}
	return nil, fmt.Errorf("-scanner %q: driver must be serial or evdev", s)
}

// scanEnrolment reads codes until one is an enrolment QR: a ticket scanned
// by mistake is skipped.
func scanEnrolment(sc *config.Scanner, wait time.Duration) (string, error) {
	d, closer, err := enrolScanner(sc)
	if err != nil {
		return "", fmt.Errorf("scanner: %w", err)
	}
	if closer != nil {
		defer closer.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for {
		code, err := d.Scan(ctx)
		if errors.Is(err, device.ErrUnreadable) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("scanner %s: %w", d, err)
		}
		if strings.HasPrefix(strings.TrimSpace(code), enrol.Prefix) {
			return code, nil
		}
	}
}

// requestEnrolment makes the box's key, sends the CSR and checks HQ's
// answer against the pin and the key.
func requestEnrolment(base, token, pin string) (*enrol.Response, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "venuebox enrolment"}}, key)
	if err != nil {
		return nil, nil, err
	}
	body, _ := json.Marshal(enrol.Request{Token: token, CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))})
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Post(strings.TrimRight(base, "/")+enrol.Path, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("HQ: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("HQ: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		json.Unmarshal(raw, &e)
		return nil, nil, fmt.Errorf("HQ refused the enrolment (%s): %s", resp.Status, e.Error)
	}
	var res enrol.Response
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, nil, fmt.Errorf("HQ's answer: %w", err)
	}
	if res.Bundle.Pin() != pin {
		return nil, nil, errors.New("HQ's answer does not match the QR's pin: not the HQ that made the QR, or tampered with")
	}
	if err := checkEnrolment(&res, key); err != nil {
		return nil, nil, err
	}
	return &res, key, nil
}

// checkEnrolment checks the certificate (issued by the CA, for this key,
// CN VENUE/BOX, for client use), the identity and the trusted keys.
func checkEnrolment(res *enrol.Response, key *ecdsa.PrivateKey) error {
	for _, id := range []string{res.Org, res.Venue, res.Box} {
		if _, err := config.ParseBox(fmt.Appendf(nil, "box: {id: %q, venue: v, org: o}\nstate_dir: s\ntrust: [k]\n", id)); err != nil {
			return fmt.Errorf("HQ's answer names a bad id %q", id)
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(res.CACert)) {
		return errors.New("HQ's answer holds no CA certificate")
	}
	block, _ := pem.Decode([]byte(res.Cert))
	if block == nil || block.Type != "CERTIFICATE" {
		return errors.New("HQ's answer holds no certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("HQ's certificate: %w", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("HQ's certificate: %w", err)
	}
	if want := res.Venue + "/" + res.Box; cert.Subject.CommonName != want {
		return fmt.Errorf("HQ's certificate is for %q, not %q", cert.Subject.CommonName, want)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return errors.New("HQ's certificate is not for this box's key")
	}
	if len(res.Trust) == 0 {
		return errors.New("HQ's answer holds no key to trust")
	}
	for _, p := range res.Trust {
		if _, err := parseTrust(p); err != nil {
			return err
		}
	}
	return nil
}

func parseTrust(p string) (ed25519.PublicKey, error) {
	block, _ := pem.Decode([]byte(p))
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("HQ's answer holds a trusted key that is not a PEM PUBLIC KEY")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	pub, ok := k.(ed25519.PublicKey)
	if err != nil || !ok {
		return nil, errors.New("HQ's answer holds a trusted key that is not Ed25519")
	}
	return pub, nil
}

// writeEnrolment writes the key, certificates, trusted keys and the box
// configuration (last), then loads the configuration as venueboxd would.
func writeEnrolment(out, state string, sc *config.Scanner, base string, res *enrol.Response, key *ecdsa.PrivateKey) error {
	dir := filepath.Dir(out)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{enrolKeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600},
		{enrolCertFile, []byte(res.Cert), 0o644},
		{enrolCAFile, []byte(res.CACert), 0o644},
	}
	var trust []string
	for _, p := range res.Trust {
		pub, _ := parseTrust(p) // checked
		name := "trust-" + ticket.KeyIDOf(pub).String() + ".pub"
		trust = append(trust, name)
		files = append(files, struct {
			name string
			data []byte
			perm os.FileMode
		}{name, []byte(p), 0o644})
	}
	var y strings.Builder
	fmt.Fprintf(&y, "# Written by venuebox enrol at %s from %s.\n", time.Now().UTC().Format(time.RFC3339), strconv.Quote(base))
	y.WriteString("# Add staff, policy and the other devices as firmware-config/venuebox.example.yaml shows.\n")
	fmt.Fprintf(&y, "box:\n  id: %s\n  venue: %s\n  org: %s\n", res.Box, res.Venue, res.Org)
	fmt.Fprintf(&y, "state_dir: %s\ntrust:\n", strconv.Quote(state))
	for _, t := range trust {
		fmt.Fprintf(&y, "  - %s\n", t)
	}
	fmt.Fprintf(&y, "mqtt:\n  url: %s\n  ca: %s\n  cert: %s\n  key: %s\n", strconv.Quote(res.BrokerURL), enrolCAFile, enrolCertFile, enrolKeyFile)
	if sc != nil {
		fmt.Fprintf(&y, "devices:\n  scanner:\n    driver: %s\n", sc.Driver)
		if sc.Port != "" {
			fmt.Fprintf(&y, "    port: %s\n", strconv.Quote(sc.Port))
		}
		if sc.Device != "" {
			fmt.Fprintf(&y, "    device: %s\n", strconv.Quote(sc.Device))
		}
	}
	if _, err := config.ParseBox([]byte(y.String())); err != nil {
		return fmt.Errorf("the configuration HQ's answer makes does not load: %w", err)
	}
	for _, f := range files {
		if _, err := os.Lstat(filepath.Join(dir, f.name)); err == nil {
			return fmt.Errorf("%s already exists; enrol never overwrites", filepath.Join(dir, f.name))
		}
	}
	for _, f := range files {
		if err := writeNew(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return err
		}
		if err := syncFile(filepath.Join(dir, f.name)); err != nil {
			return err
		}
	}
	if err := writeNew(out, []byte(y.String()), 0o640); err != nil {
		return err
	}
	if err := syncFile(out); err != nil {
		return err
	}
	syncDir(dir)
	_, err = config.LoadBox(out)
	return err
}
