package pi

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// build runs scripts/build for the targets into a temporary folder, once
// per test binary, and returns the folder.
func build(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the cross builds take a minute")
	}
	if builtErr != nil {
		t.Fatal(builtErr)
	}
	if built != "" {
		return built
	}
	dir, err := os.MkdirTemp("", "venuebox-pi-build-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(repo(t), "scripts", "build"), "-out", dir, "arm64", "armv7")
	cmd.Env = append(os.Environ(), "VERSION=pi-test")
	if out, err := cmd.CombinedOutput(); err != nil {
		builtErr = err
		t.Fatalf("scripts/build: %v\n%s", err, out)
	}
	built = dir
	return dir
}

var (
	built    string
	builtErr error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if built != "" {
		os.RemoveAll(built)
	}
	os.Exit(code)
}

var targets = []struct {
	name, qemu, goarch string
	machine            elf.Machine
	class              elf.Class
}{
	{"arm64", "qemu-aarch64-static", "linux/arm64", elf.EM_AARCH64, elf.ELFCLASS64},
	{"armv7", "qemu-arm-static", "linux/arm GOARM=7", elf.EM_ARM, elf.ELFCLASS32},
}

// TestBuild_staticWithVersion checks scripts/build's binaries: the right
// machine, statically linked (no interpreter, no dynamic section).
func TestBuild_staticWithVersion(t *testing.T) {
	dir := build(t)
	for _, tg := range targets {
		for _, bin := range []string{"venueboxd", "venuebox", "venuebox-hq"} {
			f, err := elf.Open(filepath.Join(dir, tg.name, bin))
			if err != nil {
				t.Fatal(err)
			}
			if f.Machine != tg.machine || f.Class != tg.class {
				t.Errorf("%s/%s: %v %v, want %v %v", tg.name, bin, f.Machine, f.Class, tg.machine, tg.class)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
					t.Errorf("%s/%s is dynamically linked", tg.name, bin)
				}
			}
			f.Close()
		}
	}
	if v, _ := os.ReadFile(filepath.Join(dir, "VERSION")); strings.TrimSpace(string(v)) != "pi-test" {
		t.Errorf("VERSION file says %q", v)
	}
}

// TestCross_selftestUnderQEMU runs the arm64 and armv7 builds under
// qemu-user: each binary's -version, and venuebox selftest.
func TestCross_selftestUnderQEMU(t *testing.T) {
	dir := build(t)
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			qemu, err := exec.LookPath(tg.qemu)
			if err != nil {
				t.Skipf("%s is not installed (Debian package qemu-user-static; scripts/test installs it)", tg.qemu)
			}
			for _, bin := range []string{"venueboxd", "venuebox", "venuebox-hq"} {
				out, err := exec.Command(qemu, filepath.Join(dir, tg.name, bin), "-version").CombinedOutput()
				if want := bin + " pi-test ("; err != nil || !strings.HasPrefix(string(out), want) || !strings.Contains(string(out), tg.goarch+")") {
					t.Errorf("%s -version: %v\n%s\nwant %q…%q", bin, err, out, want, tg.goarch)
				}
			}
			out, err := exec.Command(qemu, filepath.Join(dir, tg.name, "venuebox"), "selftest", "-dir", t.TempDir()).CombinedOutput()
			t.Logf("%s selftest under %s:\n%s", tg.name, tg.qemu, out)
			if err != nil || !bytes.Contains(out, []byte("all 4 checks passed")) {
				t.Errorf("selftest: %v", err)
			}
		})
	}
}

// TestInstallPi_idempotent installs into a folder twice: the first run
// puts every file in place and edits config.txt and cmdline.txt, the
// second changes nothing; an edited box configuration is never replaced.
func TestInstallPi_idempotent(t *testing.T) {
	dir := build(t)
	root := t.TempDir()
	boot := filepath.Join(root, "boot", "firmware")
	if err := os.MkdirAll(boot, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(boot, "config.txt"), "arm_64bit=1\n[all]\n")
	write(filepath.Join(boot, "cmdline.txt"), "console=serial0,115200 console=tty1 root=PARTUUID=1 rootwait\n")
	install := func() string {
		t.Helper()
		out, err := exec.Command(filepath.Join(repo(t), "scripts", "install-pi"), "-root", root, "-dist", filepath.Join(dir, "arm64")).CombinedOutput()
		if err != nil {
			t.Fatalf("install-pi: %v\n%s", err, out)
		}
		return string(out)
	}
	first := install()
	for _, p := range []string{
		"usr/local/bin/venueboxd", "usr/local/bin/venuebox", "usr/local/bin/venuebox-hq",
		"etc/systemd/system/venueboxd.service", "etc/udev/rules.d/99-venuebox.rules",
		"etc/systemd/system.conf.d/venuebox-watchdog.conf", "etc/venuebox/venuebox.yaml",
		"etc/modules-load.d/venuebox.conf", "usr/local/share/doc/venuebox/README.md",
	} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("not installed: /%s\n%s", p, first)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "etc/systemd/system/venuebox-hq.service")); err == nil {
		t.Error("the HQ unit is installed on a gate")
	}
	cfg, _ := os.ReadFile(filepath.Join(boot, "config.txt"))
	if !strings.HasPrefix(string(cfg), "arm_64bit=1\n[all]\n# venuebox begin\n") || !strings.Contains(string(cfg), "\ndtparam=watchdog=on\n") ||
		!strings.HasSuffix(string(cfg), "# venuebox end\n") {
		t.Errorf("config.txt:\n%s", cfg)
	}
	if cmdline, _ := os.ReadFile(filepath.Join(boot, "cmdline.txt")); string(cmdline) != "console=tty1 root=PARTUUID=1 rootwait\n" {
		t.Errorf("cmdline.txt: %q", cmdline)
	}

	before := tree(t, root)
	write(filepath.Join(root, "etc/venuebox/venuebox.yaml"), "# edited on the box\n")
	edited := tree(t, root)
	second := install()
	if !strings.Contains(second, "nothing to change") {
		t.Errorf("second run changed something:\n%s", second)
	}
	if after := tree(t, root); after != edited {
		t.Errorf("second run changed the tree")
	}
	if before == edited {
		t.Fatal("the edit did not show")
	}
}

// tree hashes every file's path and content under root.
func tree(t *testing.T, root string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h.Write([]byte(p + "\x00"))
		h.Write(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
