package mqtttest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func dial(port int) error {
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err == nil {
		c.Close()
	}
	return err
}

func TestBroker_stopRestart(t *testing.T) {
	b := Start(t, &Options{Persistence: true})
	if err := dial(b.Port); err != nil {
		t.Fatalf("broker not reachable: %v", err)
	}
	b.Stop()
	if b.Running() {
		t.Fatal("Running after Stop")
	}
	if err := dial(b.Port); err == nil {
		t.Fatal("broker still reachable after Stop")
	}
	b.Start()
	if err := dial(b.Port); err != nil {
		t.Fatalf("broker not reachable after Start: %v", err)
	}
	b.Kill()
	b.Restart()
	if err := dial(b.Port); err != nil {
		t.Fatalf("broker not reachable after Restart: %v", err)
	}
}

func TestStartTLS_provisioned(t *testing.T) {
	dir := Provision(t, "-org", "acme", "-hq", "hq-1")
	b := StartTLS(t, dir, nil)
	if want := "tls://127.0.0.1:" + strconv.Itoa(b.Port); b.URL != want {
		t.Fatalf("URL = %q, want %q", b.URL, want)
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("no CA certificate")
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "hq", "hq-1.crt"), filepath.Join(dir, "hq", "hq-1.key"))
	if err != nil {
		t.Fatal(err)
	}
	handshake := func() {
		t.Helper()
		c, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(b.Port), &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}})
		if err != nil {
			t.Fatalf("TLS handshake with the broker: %v", err)
		}
		c.Close()
	}
	handshake()
	b.Restart()
	handshake()
}

// TestProvision_idempotent runs scripts/provision twice on one directory:
// the second run keeps every key and certificate, adds the new box, and keeps
// the first run's clients in the ACL.
func TestProvision_idempotent(t *testing.T) {
	dir := Provision(t, "-org", "acme", "-hq", "hq-1", "-box", "sh-pudong/gate-1")
	files := []string{"ca.key", "ca.crt", "server.key", "server.crt", "hq/hq-1.key", "hq/hq-1.crt",
		"box/sh-pudong/gate-1.key", "box/sh-pudong/gate-1.crt"}
	before := map[string][]byte{}
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		before[f] = raw
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".key") && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	script, err := findUp(filepath.Join("scripts", "provision"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", script, "-out", dir, "-org", "acme", "-box", "sh-pudong/gate-2").CombinedOutput()
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, before[f]) {
			t.Errorf("%s changed on the second run", f)
		}
	}
	acl, err := os.ReadFile(filepath.Join(dir, "acl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"user hq-1\n", "user sh-pudong/gate-1\n", "user sh-pudong/gate-2\n"} {
		if !bytes.Contains(acl, []byte(user)) {
			t.Errorf("acl lacks %q:\n%s", user, acl)
		}
	}
	if ignore, err := os.ReadFile(filepath.Join(dir, ".gitignore")); err != nil || string(ignore) != "*\n" {
		t.Errorf(".gitignore = %q, %v; want \"*\\n\"", ignore, err)
	}
	// Another org's flags on this directory are refused: exit status 2.
	err = exec.Command("bash", script, "-out", dir, "-org", "other").Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Errorf("run with another org: %v, want exit status 2", err)
	}
}
