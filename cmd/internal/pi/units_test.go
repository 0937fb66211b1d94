package pi

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// systemdAnalyze returns the systemd-analyze binary or skips the test.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd; scripts/test installs it)")
	}
	return p
}

func units(t *testing.T) []string {
	t.Helper()
	us, err := filepath.Glob(filepath.Join(repo(t), "systemd", "*.service"))
	if err != nil || len(us) == 0 {
		t.Fatalf("no units in systemd/: %v", err)
	}
	return us
}

// verifyRoot makes a root for systemd-analyze verify --root: the host's
// own units (sysinit.target and the rest a service is ordered after), the
// units under test in /etc/systemd/system and an executable stub at each
// absolute path their Exec lines start, so that verify checks the units and
// not what this machine has installed.
func verifyRoot(t *testing.T, unitPaths []string) string {
	t.Helper()
	root := t.TempDir()
	var hostUnits string
	for _, d := range []string{"/usr/lib/systemd/system", "/lib/systemd/system"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			hostUnits = d
			break
		}
	}
	if hostUnits == "" {
		t.Skip("this machine has no systemd unit directory to verify against")
	}
	if err := os.MkdirAll(filepath.Join(root, "usr/lib/systemd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-r", hostUnits, filepath.Join(root, "usr/lib/systemd/system")).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v\n%s", hostUnits, err, out)
	}
	etc := filepath.Join(root, "etc/systemd/system")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range unitPaths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(etc, filepath.Base(p)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		u := parseUnit(t, p)
		for key, vals := range u["Service"] {
			if !strings.HasPrefix(key, "Exec") {
				continue
			}
			for _, v := range vals {
				cmd := strings.TrimLeft(v, "-@:+!")
				if f := strings.Fields(cmd); len(f) > 0 && strings.HasPrefix(f[0], "/") {
					stub := filepath.Join(root, f[0])
					if err := os.MkdirAll(filepath.Dir(stub), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(stub, []byte("#!/bin/sh\n"), 0o755); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	return root
}

// TestUnits_verify runs systemd-analyze verify on every unit in systemd/.
// verify exits 0 on an unknown key, so any output at all fails the test.
func TestUnits_verify(t *testing.T) {
	sa := systemdAnalyze(t)
	paths := units(t)
	root := verifyRoot(t, paths)
	for _, p := range paths {
		name := filepath.Base(p)
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(sa, "verify", "--root="+root, name).CombinedOutput()
			if err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
			}
		})
	}
}

// TestUnits_verifyCatchesATypo makes sure the harness above would fail.
func TestUnits_verifyCatchesATypo(t *testing.T) {
	sa := systemdAnalyze(t)
	src := filepath.Join(repo(t), "systemd", "venueboxd.service")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "typo.service")
	if err := os.WriteFile(bad, bytes.Replace(data, []byte("NoNewPrivileges="), []byte("NoNewPrivilege="), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	root := verifyRoot(t, []string{bad})
	out, _ := exec.Command(sa, "verify", "--root="+root, "typo.service").CombinedOutput()
	if !bytes.Contains(out, []byte("NoNewPrivilege")) {
		t.Errorf("verify did not report the typo: %s", out)
	}
}

var exposure = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

// TestUnits_securityExposure records systemd-analyze security's exposure
// score of the daemons' units: under 3.0 ("OK") is the goal.
func TestUnits_securityExposure(t *testing.T) {
	sa := systemdAnalyze(t)
	for _, name := range []string{"venueboxd.service", "venuebox-hq.service"} {
		path := filepath.Join(repo(t), "systemd", name)
		out, err := exec.Command(sa, "security", "--offline=true", "--no-pager", path).CombinedOutput()
		m := exposure.FindSubmatch(out)
		if m == nil {
			t.Fatalf("systemd-analyze security %s: %v\n%s", name, err, out)
		}
		score, _ := strconv.ParseFloat(string(m[1]), 64)
		t.Logf("%s: exposure %.1f", name, score)
		if score >= 3.0 {
			t.Errorf("%s: exposure %.1f, want under 3.0\n%s", name, score, out)
		}
	}
}

// TestUnits_boxContract checks what the rest of the repo relies on in
// venueboxd.service: notify and watchdog, restart, state directory, user,
// groups that match the udev rules, and the hardening.
func TestUnits_boxContract(t *testing.T) {
	u := parseUnit(t, filepath.Join(repo(t), "systemd", "venueboxd.service"))
	for key, want := range map[string]string{
		"Type": "notify", "Restart": "always", "StateDirectory": "venuebox", "User": "venuebox",
		"DynamicUser": "no", "ProtectSystem": "strict", "NoNewPrivileges": "yes", "PrivateTmp": "yes",
		"ProtectHome": "yes", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
		"ProtectControlGroups": "yes", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"CapabilityBoundingSet": "", "DevicePolicy": "closed", "NotifyAccess": "main",
		"ExecStart": "/usr/local/bin/venueboxd -config /etc/venuebox/venuebox.yaml",
	} {
		if _, ok := u["Service"][key]; !ok || u.get("Service", key) != want {
			t.Errorf("%s=%q, want %q", key, u.get("Service", key), want)
		}
	}
	if u.get("Service", "WatchdogSec") == "" {
		t.Error("no WatchdogSec")
	}
	if !slices.Contains(u["Service"]["SystemCallFilter"], "@system-service") {
		t.Error("SystemCallFilter lacks @system-service")
	}
	if _, ok := u["Service"]["ReadWritePaths"]; ok {
		t.Error("ReadWritePaths: the daemon writes only its StateDirectory")
	}
	groups := strings.Fields(u.get("Service", "SupplementaryGroups"))
	if want := []string{"dialout", "i2c", "gpio", "input"}; !slices.Equal(groups, want) {
		t.Errorf("SupplementaryGroups %v, want %v", groups, want)
	}
	allowed := strings.Join(u["Service"]["DeviceAllow"], " ")
	for _, dev := range []string{"char-ttyAMA", "char-ttyACM", "char-ttyUSB", "char-i2c", "char-gpiochip", "char-input"} {
		if !strings.Contains(allowed, dev+" rw") {
			t.Errorf("DeviceAllow lacks %s rw", dev)
		}
	}
	hq := parseUnit(t, filepath.Join(repo(t), "systemd", "venuebox-hq.service"))
	if hq.get("Service", "Type") != "notify" || hq.get("Service", "WatchdogSec") == "" || hq.get("Service", "StateDirectory") != "venuebox-hq" {
		t.Errorf("venuebox-hq.service: Type=%s WatchdogSec=%s StateDirectory=%s", hq.get("Service", "Type"),
			hq.get("Service", "WatchdogSec"), hq.get("Service", "StateDirectory"))
	}
}
