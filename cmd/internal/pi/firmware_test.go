package pi

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFirmwareConfigTxt checks the config.txt fragment as the firmware
// reads it: one property=value a line, at most 98 characters, known
// conditional sections, no property set twice in a section, and the
// settings the gate needs in [all].
func TestFirmwareConfigTxt(t *testing.T) {
	path := filepath.Join(repo(t), "firmware-config", "config.txt")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sections := map[string][]string{}
	section := "all"
	line := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line++
		text := sc.Text()
		if len(text) > 98 {
			t.Errorf("line %d is %d characters; the firmware reads 98", line, len(text))
		}
		text = strings.TrimSpace(text)
		switch {
		case text == "" || text[0] == '#':
		case text[0] == '[':
			section = strings.Trim(text, "[]")
			if !slices.Contains([]string{"all", "pi3", "pi4", "pi5", "pi0w", "pi02", "cm4", "cm5"}, section) {
				t.Errorf("line %d: unknown section [%s]", line, section)
			}
		default:
			k, v, ok := strings.Cut(text, "=")
			if !ok || k == "" || v == "" || strings.ContainsAny(k, " \t") {
				t.Errorf("line %d: not property=value: %q", line, text)
				continue
			}
			if !strings.HasPrefix(k, "dt") && slices.ContainsFunc(sections[section], func(s string) bool { return strings.HasPrefix(s, k+"=") }) {
				t.Errorf("line %d: %s set twice in [%s]", line, k, section)
			}
			sections[section] = append(sections[section], text)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"enable_uart=1", "dtparam=i2c_arm=on", "dtparam=watchdog=on"} {
		if !slices.Contains(sections["all"], want) {
			t.Errorf("[all] lacks %s", want)
		}
	}
	if !slices.Contains(sections["all"], "dtoverlay=disable-bt") && !slices.Contains(sections["all"], "dtoverlay=miniuart-bt") {
		t.Error("[all] leaves Bluetooth on the PL011 UART: want dtoverlay=disable-bt or miniuart-bt")
	}
	if !slices.Contains(sections["pi5"], "dtparam=uart0=on") {
		t.Error("[pi5] lacks dtparam=uart0=on (GPIO14/15 on a Pi 5)")
	}
}

var (
	udevKey    = regexp.MustCompile(`^([A-Z_]+)(\{[A-Za-z0-9_]+\})?$`)
	udevMatch  = []string{"ACTION", "DEVPATH", "KERNEL", "KERNELS", "NAME", "SYMLINK", "SUBSYSTEM", "SUBSYSTEMS", "DRIVER", "DRIVERS", "ATTR", "ATTRS", "ENV", "TAG", "TAGS", "TEST", "PROGRAM", "RESULT"}
	udevAssign = []string{"NAME", "SYMLINK", "OWNER", "GROUP", "MODE", "ENV", "TAG", "RUN", "OPTIONS", "ATTR", "LABEL", "GOTO", "IMPORT"}
)

// TestUdevRules parses the rules as udev does (comma-separated KEY op
// "value"), and checks that every name is venuebox-*, every mode 0660 and
// every group one the unit's user is in (or video, for the kiosk).
func TestUdevRules(t *testing.T) {
	path := filepath.Join(repo(t), "firmware-config", "99-venuebox.rules")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	unit := parseUnit(t, filepath.Join(repo(t), "systemd", "venueboxd.service"))
	groups := append(strings.Fields(unit.get("Service", "SupplementaryGroups")), "video")
	token := regexp.MustCompile(`^\s*([A-Z_]+(?:\{[A-Za-z0-9_]+\})?)\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"\s*(?:,|$)`)
	names := map[string]bool{}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		rest, matches, assigns := line, 0, 0
		for rest != "" {
			m := token.FindStringSubmatch(rest)
			if m == nil {
				t.Errorf("line %d: cannot parse at %q", n+1, rest)
				break
			}
			rest = strings.TrimSpace(rest[len(m[0]):])
			key, op, val := m[1], m[2], m[3]
			base := udevKey.FindStringSubmatch(key)[1]
			if op == "==" || op == "!=" {
				matches++
				if !slices.Contains(udevMatch, base) {
					t.Errorf("line %d: %s cannot be matched", n+1, key)
				}
				continue
			}
			assigns++
			if !slices.Contains(udevAssign, base) {
				t.Errorf("line %d: %s cannot be assigned", n+1, key)
			}
			switch base {
			case "SYMLINK":
				if !strings.HasPrefix(filepath.Base(val), "venuebox-") {
					t.Errorf("line %d: name %q is not venuebox-*", n+1, val)
				}
				names[val] = true
			case "GROUP":
				if !slices.Contains(groups, val) {
					t.Errorf("line %d: group %s is none of the unit's %v", n+1, val, groups)
				}
			case "MODE":
				if val != "0660" {
					t.Errorf("line %d: mode %s, want 0660", n+1, val)
				}
			}
		}
		if matches == 0 || assigns == 0 {
			t.Errorf("line %d: a rule needs a match and an assignment: %q", n+1, line)
		}
	}
	for _, want := range []string{"venuebox-scanner", "venuebox-nfc", "venuebox-i2c", "input/venuebox-touch", "dri/venuebox-display"} {
		if !names[want] {
			t.Errorf("no rule names /dev/%s", want)
		}
	}
}

// TestWatchdogConf checks systemd's hardware watchdog drop-in: a timeout
// the BCM2835 watchdog can do (at most about 15 s).
func TestWatchdogConf(t *testing.T) {
	u := parseUnit(t, filepath.Join(repo(t), "firmware-config", "watchdog.conf"))
	d, err := time.ParseDuration(u.get("Manager", "RuntimeWatchdogSec"))
	if err != nil || d <= 0 || d > 15*time.Second {
		t.Errorf("RuntimeWatchdogSec=%q: want a duration up to 15s", u.get("Manager", "RuntimeWatchdogSec"))
	}
	if u.get("Manager", "RebootWatchdogSec") == "" {
		t.Error("no RebootWatchdogSec")
	}
}
