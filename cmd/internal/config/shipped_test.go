package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestShippedConfigsLoad loads every YAML file in the repository's
// firmware-config directory, as HQ's when its name contains "hq" and as the
// box's otherwise, so that no shipped example can drift from this package.
func TestShippedConfigsLoad(t *testing.T) {
	dir := filepath.Join(moduleRoot(t), "firmware-config")
	var files []string
	for _, pattern := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatalf("no YAML files in %s", dir)
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			var err error
			if strings.Contains(strings.ToLower(name), "hq") {
				_, err = LoadHQ(f)
			} else {
				_, err = LoadBox(f)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	for _, name := range []string{"venuebox.example.yaml", "venuebox-hq.example.yaml"} {
		if !seen[name] {
			t.Errorf("firmware-config/%s is missing", name)
		}
	}
}

// TestShippedBoxExample checks that the box example shows the values of
// DESIGN.md and every device, so that it stays the reference it claims to be.
func TestShippedBoxExample(t *testing.T) {
	b, err := LoadBox(filepath.Join(moduleRoot(t), "firmware-config", "venuebox.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseBox([]byte(designExample))
	if err != nil {
		t.Fatal(err)
	}
	if b.Box.ID != d.Box.ID || b.Box.Venue != d.Box.Venue || b.Box.Org != d.Box.Org ||
		b.StateDir != d.StateDir || b.HTTP != d.HTTP || b.MQTT != d.MQTT ||
		!reflect.DeepEqual(b.Devices.Scanner, d.Devices.Scanner) || *b.Devices.NFC != *d.Devices.NFC ||
		*b.Devices.Thermo != *d.Devices.Thermo || *b.Devices.Signal != *d.Devices.Signal {
		t.Errorf("example differs from DESIGN.md:\n%+v\n%+v", b, d)
	}
	if len(b.Staff.PINs) == 0 || len(b.Staff.Cards) == 0 {
		t.Error("example shows no staff PIN or card")
	}
}

// moduleRoot walks up from the working directory to the directory that
// holds go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = up
	}
}
