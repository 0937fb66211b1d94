package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// designExample is the box configuration of DESIGN.md §3, verbatim.
const designExample = `box: {id: gate-1, venue: sh-pudong, org: acme-bank}
state_dir: /var/lib/venuebox
trust: [/etc/venuebox/signing.pub]      # public keys whose tickets are valid
manifest: /etc/venuebox/manifest.json   # optional: load this manifest at start
http: {listen: 127.0.0.1:8080}
mqtt: {url: tcp://127.0.0.1:1883}       # tls:// with ca, cert, key for production
devices:
  scanner: {driver: serial, port: /dev/ttyACM0, baud: 115200}
  nfc: {driver: pn532, port: /dev/ttyAMA0, baud: 115200}
  thermo: {driver: mlx90614, bus: /dev/i2c-1, addr: 0x5a}
  signal: {green: GPIO17, red: GPIO27, buzzer: GPIO22, relay: GPIO23}
`

// minimal is the smallest valid box configuration: three lines, so that
// keys appended to it start at line 4.
const minimal = `box: {id: g1, venue: v1, org: o1}
state_dir: /s
trust: [k.pub]
`

func TestParseBox_designExample(t *testing.T) {
	b, err := ParseBox([]byte(designExample))
	if err != nil {
		t.Fatal(err)
	}
	want := &Box{
		Box:      Identity{ID: "gate-1", Venue: "sh-pudong", Org: "acme-bank"},
		StateDir: "/var/lib/venuebox",
		Trust:    []string{"/etc/venuebox/signing.pub"},
		Manifest: "/etc/venuebox/manifest.json",
		HTTP:     HTTP{Listen: "127.0.0.1:8080"},
		MQTT:     MQTT{URL: "tcp://127.0.0.1:1883"},
		Devices: Devices{
			Scanner: &Scanner{Driver: "serial", Port: "/dev/ttyACM0", Baud: 115200, Suffix: "cr"},
			NFC:     &NFC{Driver: "pn532", Port: "/dev/ttyAMA0", Baud: 115200},
			Thermo:  &Thermo{Driver: "mlx90614", Bus: "/dev/i2c-1", Addr: 0x5a, Samples: 5},
			Signal:  &Signal{Green: "GPIO17", Red: "GPIO27", Buzzer: "GPIO22", Relay: "GPIO23"},
		},
		Policy: Policy{DoubleScanWindow: 3 * time.Second, FeverC: 37.3, ClockSkew: 5 * time.Minute},
		Staff:  Staff{MaxAttempts: 5, Lockout: 5 * time.Minute, Session: 10 * time.Minute},
	}
	if !reflect.DeepEqual(b, want) {
		t.Errorf("got\n%+v\nwant\n%+v", b, want)
	}
}

func TestParseBox_defaults(t *testing.T) {
	yes := true
	for _, tc := range []struct {
		name  string
		extra string
		check func(*Box) any // returns the defaulted value
		want  any
	}{
		{"http.listen", "", func(b *Box) any { return b.HTTP.Listen }, "127.0.0.1:8080"},
		{"no mqtt", "", func(b *Box) any { return b.MQTT }, MQTT{}},
		{"no devices", "", func(b *Box) any { return b.Devices }, Devices{}},
		{"empty devices", "devices: {}\n", func(b *Box) any { return b.Devices }, Devices{}},
		{"null device", "devices: {scanner: null, nfc: ~}\n", func(b *Box) any { return b.Devices }, Devices{}},
		{"serial baud", "devices: {scanner: {driver: serial, port: /dev/ttyACM0}}\n",
			func(b *Box) any { return b.Devices.Scanner.Baud }, 115200},
		{"serial suffix", "devices: {scanner: {driver: serial, port: /dev/ttyACM0}}\n",
			func(b *Box) any { return b.Devices.Scanner.Suffix }, "cr"},
		{"serial baud 0 is the default", "devices: {scanner: {driver: serial, port: p, baud: 0}}\n",
			func(b *Box) any { return b.Devices.Scanner.Baud }, 115200},
		{"evdev has no baud", "devices: {scanner: {driver: evdev, device: /dev/input/event0}}\n",
			func(b *Box) any { return *b.Devices.Scanner }, Scanner{Driver: "evdev", Device: "/dev/input/event0"}},
		{"camera", "devices: {scanner: {driver: camera, command: [cam, -o, '-']}}\n",
			func(b *Box) any { return b.Devices.Scanner.Command }, []string{"cam", "-o", "-"}},
		{"pn532 baud", "devices: {nfc: {driver: pn532, port: /dev/ttyAMA0}}\n",
			func(b *Box) any { return b.Devices.NFC.Baud }, 115200},
		{"rdm6300 baud", "devices: {nfc: {driver: rdm6300, port: /dev/ttyS0}}\n",
			func(b *Box) any { return b.Devices.NFC.Baud }, 9600},
		{"nfc sim", "devices: {nfc: {driver: sim}}\n",
			func(b *Box) any { return *b.Devices.NFC }, NFC{Driver: "sim"}},
		{"thermo addr", "devices: {thermo: {driver: mlx90614, bus: /dev/i2c-1}}\n",
			func(b *Box) any { return b.Devices.Thermo.Addr }, 0x5a},
		{"thermo addr decimal", "devices: {thermo: {driver: mlx90614, bus: /dev/i2c-1, addr: 91}}\n",
			func(b *Box) any { return b.Devices.Thermo.Addr }, 0x5b},
		{"thermo samples", "devices: {thermo: {driver: sim}}\n",
			func(b *Box) any { return *b.Devices.Thermo }, Thermo{Driver: "sim", Samples: 5}},
		{"thermo offset", "devices: {thermo: {driver: sim, offset_c: -1.5, samples: 9}}\n",
			func(b *Box) any { return *b.Devices.Thermo }, Thermo{Driver: "sim", OffsetC: -1.5, Samples: 9}},
		{"signal subset", "devices: {signal: {relay: GPIO5}}\n",
			func(b *Box) any { return *b.Devices.Signal }, Signal{Relay: "GPIO5"}},
		{"policy", "", func(b *Box) any { return b.Policy },
			Policy{DoubleScanWindow: 3 * time.Second, FeverC: 37.3, ClockSkew: 5 * time.Minute}},
		{"policy set", "policy: {double_scan_window: 1.5s, reentry: true, fever_c: 38, clock_skew: 90s}\n",
			func(b *Box) any { return b.Policy },
			Policy{DoubleScanWindow: 1500 * time.Millisecond, Reentry: &yes, FeverC: 38, ClockSkew: 90 * time.Second}},
		{"reentry null", "policy: {reentry: null}\n", func(b *Box) any { return b.Policy.Reentry }, (*bool)(nil)},
		{"staff", "", func(b *Box) any { return b.Staff },
			Staff{MaxAttempts: 5, Lockout: 5 * time.Minute, Session: 10 * time.Minute}},
		{"staff empty lists", "staff: {pins: {}, cards: []}\n", func(b *Box) any { return b.Staff },
			Staff{MaxAttempts: 5, Lockout: 5 * time.Minute, Session: 10 * time.Minute}},
		{"pin hash lower-cased", "staff: {pins: {amy: 'sha256:" + strings.ToUpper(HashPIN("1")[7:]) + "'}}\n",
			func(b *Box) any { return b.Staff.PINs["amy"] }, HashPIN("1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseBox([]byte(minimal + tc.extra))
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.check(b); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestParseBox_errors(t *testing.T) {
	const id = "box: {id: g1, venue: v1, org: o1}\n"
	for _, tc := range []struct {
		name, yaml, want string
	}{
		// The file as a whole.
		{"empty", "", "config: file is empty"},
		{"comments only", "# nothing\n", "config: file is empty"},
		{"null", "~\n", "config: file is empty"},
		{"not a mapping", "- a\n", "config: want a mapping of keys, got a list (line 1)"},
		{"two documents", minimal + "---\n" + minimal, "config: more than one YAML document (line 4)"},
		{"syntax", minimal + "http: {listen: [}\n", "config: YAML syntax error near line 3: did not find expected node content"},
		{"tab", minimal + "http:\n\tlisten: x\n", "config: YAML syntax error near line 5: found character that cannot start any token"},
		{"bad alias", minimal + "manifest: *m\n", "config: YAML syntax error: unknown anchor 'm' referenced"},
		{"anchored unknown key", "base: &b {id: g1}\n", `config: base: unknown key (line 1)`},
		{"merge", minimal + "http:\n  <<: {listen: ':1'}\n", "config: http: merge keys (<<) are not supported (line 5)"},

		// Keys.
		{"unknown top-level", minimal + "statedir: /x\n", `config: statedir: unknown key, did you mean "state_dir"? (line 4)`},
		{"unknown nested", minimal + "devices:\n  scanner:\n    driver: serial\n    bauds: 9600\n",
			`config: devices.scanner.bauds: unknown key, did you mean "baud"? (line 7)`},
		{"swapped letters", minimal + "devices: {scanner: {driver: serial, prot: x}}\n",
			`config: devices.scanner.prot: unknown key, did you mean "port"? (line 4)`},
		{"unknown device", minimal + "devices: {printer: {driver: sim}}\n", "config: devices.printer: unknown key (line 4)"},
		{"repeated key", minimal + "state_dir: /t\n", "config: state_dir: repeated key (first at line 2) (line 4)"},
		{"repeated pin", minimal + "staff:\n  pins:\n    amy: x\n    amy: y\n", "config: staff.pins.amy: repeated key (first at line 6) (line 7)"},
		{"odd key", minimal + "? [a]\n: b\n", "config: a key must be a plain word (line 4)"},
		{"odd key text", minimal + "\"st ate\": 1\n", `config: "st ate": unknown key (line 4)`},

		// Kinds of value.
		{"string for mapping", minimal + "http: yes\n", `config: http: want a mapping of keys, got "yes" (line 4)`},
		{"mapping for string", minimal + "manifest: {a: b}\n", "config: manifest: want a string, got a mapping (line 4)"},
		{"string for list", "box: {id: g1, venue: v1, org: o1}\nstate_dir: /s\ntrust: k.pub\n", `config: trust: want a list, got "k.pub" (line 3)`},
		{"list element", minimal[:len(minimal)-len("trust: [k.pub]\n")] + "trust: [a, [b]]\n", "config: trust[1]: want a string, got a list (line 3)"},
		{"word for number", minimal + "devices: {scanner: {driver: serial, port: p, baud: fast}}\n",
			`config: devices.scanner.baud: want a whole number, got "fast" (line 4)`},
		{"fraction for number", minimal + "staff: {max_attempts: 2.5}\n", `config: staff.max_attempts: want a whole number, got "2.5" (line 4)`},
		{"bare number for duration", minimal + "policy: {double_scan_window: 3}\n",
			`config: policy.double_scan_window: want a duration such as "3s" or "5m", got "3" (line 4)`},
		{"bad duration", minimal + "policy: {clock_skew: 5 minutes}\n",
			`config: policy.clock_skew: want a duration such as "3s" or "5m", got "5 minutes" (line 4)`},
		{"word for bool", minimal + "policy: {reentry: sometimes}\n", `config: policy.reentry: want true or false, got "sometimes" (line 4)`},
		{"word for float", minimal + "policy: {fever_c: hot}\n", `config: policy.fever_c: want a number, got "hot" (line 4)`},

		// Identity.
		{"no box", "state_dir: /s\ntrust: [k]\n", "config: box.id: required"},
		{"no id", "box: {venue: v1, org: o1}\nstate_dir: /s\ntrust: [k]\n", "config: box.id: required (line 1)"},
		{"no venue", "box: {id: g, org: o1}\nstate_dir: /s\ntrust: [k]\n", "config: box.venue: required (line 1)"},
		{"no org", "box: {id: g, venue: v}\nstate_dir: /s\ntrust: [k]\n", "config: box.org: required (line 1)"},
		{"id slash", "box: {id: a/b, venue: v, org: o}\nstate_dir: /s\ntrust: [k]\n", `config: box.id: "a/b" has '/'; use only A-Z a-z 0-9 . _ - (line 1)`},
		{"id plus", "box: {id: a+, venue: v, org: o}\nstate_dir: /s\ntrust: [k]\n", `config: box.id: "a+" has '+'; use only A-Z a-z 0-9 . _ - (line 1)`},
		{"venue hash", "box: {id: a, venue: 'v#', org: o}\nstate_dir: /s\ntrust: [k]\n", `config: box.venue: "v#" has '#'; use only A-Z a-z 0-9 . _ - (line 1)`},
		{"org dollar", "box: {id: a, venue: v, org: $SYS}\nstate_dir: /s\ntrust: [k]\n", `config: box.org: "$SYS" has '$'; use only A-Z a-z 0-9 . _ - (line 1)`},
		{"id control", "box: {id: \"a\\tb\", venue: v, org: o}\nstate_dir: /s\ntrust: [k]\n", `config: box.id: "a\tb" has '\t'; use only A-Z a-z 0-9 . _ - (line 1)`},
		{"id space", "box: {id: a b, venue: v, org: o}\nstate_dir: /s\ntrust: [k]\n", `config: box.id: "a b" has ' '; use only A-Z a-z 0-9 . _ - (line 1)`},
		{"id unicode", "box: {id: 门1, venue: v, org: o}\nstate_dir: /s\ntrust: [k]\n", `config: box.id: "门1" has '门'; use only A-Z a-z 0-9 . _ - (line 1)`},
		{"id dots", "box: {id: .., venue: v, org: o}\nstate_dir: /s\ntrust: [k]\n", `config: box.id: ".." is not a name (line 1)`},
		{"id long", "box: {id: " + strings.Repeat("a", 65) + ", venue: v, org: o}\nstate_dir: /s\ntrust: [k]\n", "config: box.id: longer than 64 bytes (line 1)"},
		{"zone slash", "box: {id: a, venue: v, org: o, zone: a/b}\nstate_dir: /s\ntrust: [k]\n", `config: box.zone: "a/b" has '/'; use only A-Z a-z 0-9 . _ - (line 1)`},

		// Files.
		{"no state_dir", id + "trust: [k]\n", "config: state_dir: required"},
		{"state_dir control", id + "state_dir: \"/s\\n\"\ntrust: [k]\n", `config: state_dir: "/s\n" has control characters (line 2)`},
		{"no trust", id + "state_dir: /s\n", "config: trust: list at least one public key file"},
		{"empty trust", id + "state_dir: /s\ntrust: []\n", "config: trust: list at least one public key file (line 3)"},
		{"empty trust entry", id + "state_dir: /s\ntrust: [a, '']\n", "config: trust[1]: required (line 3)"},
		{"trust twice", id + "state_dir: /s\ntrust: [a, a]\n", "config: trust[1]: same file as trust[0] (line 3)"},

		// HTTP.
		{"listen no port", minimal + "http: {listen: localhost}\n", `config: http.listen: "localhost" is not host:port (line 4)`},
		{"listen bad port", minimal + "http: {listen: ':http'}\n", `config: http.listen: port "http" is not a number within 0..65535 (line 4)`},
		{"listen big port", minimal + "http: {listen: ':65536'}\n", `config: http.listen: port "65536" is not a number within 0..65535 (line 4)`},
		{"listen bad host", minimal + "http: {listen: 'a b:80'}\n", `config: http.listen: host "a b" is neither an IP address nor a host name (line 4)`},

		// MQTT.
		{"mqtt scheme", minimal + "mqtt: {url: 'http://b:1883'}\n", `config: mqtt.url: scheme "http" is not one of tcp, mqtt, ws, tls, ssl, mqtts, wss (line 4)`},
		{"mqtt no scheme", minimal + "mqtt: {url: 'broker:1883'}\n", "config: mqtt.url: not a URL such as tcp://broker:1883 (line 4)"},
		{"mqtt no host", minimal + "mqtt: {url: 'tcp://:1883'}\n", "config: mqtt.url: no broker host (line 4)"},
		{"mqtt no port", minimal + "mqtt: {url: 'tcp://broker'}\n", "config: mqtt.url: no port (1883 is usual for tcp, 8883 for TLS) (line 4)"},
		{"mqtt bad port", minimal + "mqtt: {url: 'tcp://broker:0'}\n", "config: mqtt.url: port is not a number within 1..65535 (line 4)"},
		{"mqtt path", minimal + "mqtt: {url: 'tcp://broker:1883/x'}\n", "config: mqtt.url: a tcp URL has no path (line 4)"},
		{"mqtt query", minimal + "mqtt: {url: 'tcp://broker:1883?x=1'}\n", "config: mqtt.url: has a query or fragment (line 4)"},
		{"tls without ca", minimal + "mqtt: {url: 'tls://broker:8883'}\n", "config: mqtt.ca: required with tls:// (line 4)"},
		{"mqtts without ca", minimal + "mqtt: {url: 'mqtts://broker:8883'}\n", "config: mqtt.ca: required with mqtts:// (line 4)"},
		{"cert without key", minimal + "mqtt: {url: 'tls://b:8883', ca: ca.pem, cert: c.pem}\n", "config: mqtt.key: required with cert (give both or neither) (line 4)"},
		{"key without cert", minimal + "mqtt: {url: 'tls://b:8883', ca: ca.pem, key: c.key}\n", "config: mqtt.cert: required with key (give both or neither) (line 4)"},
		{"ca with tcp", minimal + "mqtt: {url: 'tcp://b:1883', ca: ca.pem}\n", "config: mqtt.ca: set, but tcp:// is not TLS; use tls:// or leave it out (line 4)"},
		{"url secret not echoed", minimal + "mqtt: {url: 'ftp://u:hunter2@b:1'}\n", `config: mqtt.url: scheme "ftp" is not one of tcp, mqtt, ws, tls, ssl, mqtts, wss (line 4)`},

		// Devices.
		{"no driver", minimal + "devices: {scanner: {port: /dev/ttyACM0}}\n", "config: devices.scanner.driver: required: serial, evdev, camera or sim (line 4)"},
		{"unknown scanner driver", minimal + "devices: {scanner: {driver: usb}}\n", `config: devices.scanner.driver: "usb" is not a scanner driver; want serial, evdev, camera or sim (line 4)`},
		{"serial no port", minimal + "devices: {scanner: {driver: serial}}\n", "config: devices.scanner.port: required with driver serial (line 4)"},
		{"serial odd baud", minimal + "devices: {scanner: {driver: serial, port: p, baud: 12}}\n", "config: devices.scanner.baud: 12 is not a standard rate (line 4)"},
		{"serial negative baud", minimal + "devices: {scanner: {driver: serial, port: p, baud: -9600}}\n", "config: devices.scanner.baud: -9600 is not a standard rate (line 4)"},
		{"serial suffix", minimal + "devices: {scanner: {driver: serial, port: p, suffix: tab}}\n", `config: devices.scanner.suffix: "tab" is not one of cr, lf, crlf, none (line 4)`},
		{"serial with device", minimal + "devices: {scanner: {driver: serial, port: p, device: /dev/input/event0}}\n", "config: devices.scanner.device: not used by driver serial (line 4)"},
		{"evdev no device", minimal + "devices: {scanner: {driver: evdev}}\n", "config: devices.scanner.device: required with driver evdev (line 4)"},
		{"evdev with baud", minimal + "devices: {scanner: {driver: evdev, device: d, baud: 9600}}\n", "config: devices.scanner.baud: not used by driver evdev (line 4)"},
		{"camera no command", minimal + "devices: {scanner: {driver: camera}}\n", "config: devices.scanner.command: required with driver camera (line 4)"},
		{"camera empty command", minimal + "devices: {scanner: {driver: camera, command: []}}\n", "config: devices.scanner.command: required with driver camera (line 4)"},
		{"camera empty program", minimal + "devices: {scanner: {driver: camera, command: ['', x]}}\n", "config: devices.scanner.command[0]: the program is empty (line 4)"},
		{"sim with port", minimal + "devices: {scanner: {driver: sim, port: p}}\n", "config: devices.scanner.port: not used by driver sim (line 4)"},
		{"empty scanner", minimal + "devices: {scanner: {}}\n", "config: devices.scanner.driver: required: serial, evdev, camera or sim (line 4)"},
		{"port control", minimal + "devices: {scanner: {driver: serial, port: \"p\\x01\"}}\n", `config: devices.scanner.port: "p\x01" has control characters (line 4)`},
		{"unknown nfc driver", minimal + "devices: {nfc: {driver: acr122}}\n", `config: devices.nfc.driver: "acr122" is not a card reader driver; want pn532, rdm6300, evdev or sim (line 4)`},
		{"nfc no driver", minimal + "devices: {nfc: {port: p}}\n", "config: devices.nfc.driver: required: pn532, rdm6300, evdev or sim (line 4)"},
		{"pn532 no port", minimal + "devices: {nfc: {driver: pn532}}\n", "config: devices.nfc.port: required with driver pn532 (line 4)"},
		{"pn532 baud", minimal + "devices: {nfc: {driver: pn532, port: p, baud: 100000}}\n", "config: devices.nfc.baud: 100000 is not a standard rate (line 4)"},
		{"rdm6300 baud", minimal + "devices: {nfc: {driver: rdm6300, port: p, baud: 115200}}\n", "config: devices.nfc.baud: 115200, but the rdm6300 talks at 9600 only (line 4)"},
		{"nfc evdev no device", minimal + "devices: {nfc: {driver: evdev, port: p}}\n", "config: devices.nfc.device: required with driver evdev (line 4)"},
		{"nfc sim with baud", minimal + "devices: {nfc: {driver: sim, baud: 9600}}\n", "config: devices.nfc.baud: not used by driver sim (line 4)"},
		{"unknown thermo driver", minimal + "devices: {thermo: {driver: dht22}}\n", `config: devices.thermo.driver: "dht22" is not a thermometer driver; want mlx90614 or sim (line 4)`},
		{"thermo no driver", minimal + "devices: {thermo: {bus: b}}\n", "config: devices.thermo.driver: required: mlx90614 or sim (line 4)"},
		{"mlx no bus", minimal + "devices: {thermo: {driver: mlx90614}}\n", "config: devices.thermo.bus: required with driver mlx90614 (line 4)"},
		{"mlx addr high", minimal + "devices: {thermo: {driver: mlx90614, bus: b, addr: 0x78}}\n", "config: devices.thermo.addr: 0x78 is not a 7-bit device address within 0x03..0x77 (line 4)"},
		{"mlx addr low", minimal + "devices: {thermo: {driver: mlx90614, bus: b, addr: 2}}\n", "config: devices.thermo.addr: 0x2 is not a 7-bit device address within 0x03..0x77 (line 4)"},
		{"sim with addr", minimal + "devices: {thermo: {driver: sim, addr: 0x5a}}\n", "config: devices.thermo.addr: not used by driver sim (line 4)"},
		{"offset", minimal + "devices: {thermo: {driver: sim, offset_c: 11}}\n", "config: devices.thermo.offset_c: 11 is not within -10..10 °C (line 4)"},
		{"offset nan", minimal + "devices: {thermo: {driver: sim, offset_c: .nan}}\n", "config: devices.thermo.offset_c: NaN is not within -10..10 °C (line 4)"},
		{"samples", minimal + "devices: {thermo: {driver: sim, samples: 51}}\n", "config: devices.thermo.samples: 51 is not within 1..50 (line 4)"},
		{"samples negative", minimal + "devices: {thermo: {driver: sim, samples: -1}}\n", "config: devices.thermo.samples: -1 is not within 1..50 (line 4)"},
		{"pin name", minimal + "devices: {signal: {green: 17}}\n", `config: devices.signal.green: "17" is not a pin name such as GPIO17 (line 4)`},
		{"pin name case", minimal + "devices: {signal: {green: gpio17}}\n", `config: devices.signal.green: "gpio17" is not a pin name such as GPIO17 (line 4)`},
		{"pin name long", minimal + "devices: {signal: {green: GPIO170}}\n", `config: devices.signal.green: "GPIO170" is not a pin name such as GPIO17 (line 4)`},
		{"pin leading zero", minimal + "devices: {signal: {green: GPIO07}}\n", "config: devices.signal.green: write GPIO07 as GPIO7 (line 4)"},
		{"pin twice", minimal + "devices: {signal: {green: GPIO17, relay: GPIO17}}\n", "config: devices.signal.relay: GPIO17 is already devices.signal.green (line 4)"},

		// Policy.
		{"window negative", minimal + "policy: {double_scan_window: -1s}\n", "config: policy.double_scan_window: -1s is negative (line 4)"},
		{"window long", minimal + "policy: {double_scan_window: 2m}\n", "config: policy.double_scan_window: 2m0s is longer than 1m0s (line 4)"},
		{"fever low", minimal + "policy: {fever_c: 34.9}\n", "config: policy.fever_c: 34.9 is not within 35..42 °C (line 4)"},
		{"fever high", minimal + "policy: {fever_c: 42.5}\n", "config: policy.fever_c: 42.5 is not within 35..42 °C (line 4)"},
		{"fever fahrenheit", minimal + "policy: {fever_c: 99.5}\n", "config: policy.fever_c: 99.5 is not within 35..42 °C (line 4)"},
		{"fever nan", minimal + "policy: {fever_c: .nan}\n", "config: policy.fever_c: NaN is not within 35..42 °C (line 4)"},
		{"skew negative", minimal + "policy: {clock_skew: -5m}\n", "config: policy.clock_skew: -5m0s is negative (line 4)"},
		{"skew long", minimal + "policy: {clock_skew: 2h}\n", "config: policy.clock_skew: 2h0m0s is longer than 1h0m0s (line 4)"},

		// Staff.
		{"clear pin", minimal + "staff: {pins: {amy: 1234}}\n",
			`config: staff.pins.amy: looks like a PIN in clear; write its hash instead: "sha256:" and the output of printf %s PIN | sha256sum (line 4)`},
		{"empty pin", minimal + "staff: {pins: {amy: ''}}\n", `config: staff.pins.amy: empty; want "sha256:" and the hex SHA-256 of the PIN (line 4)`},
		{"short hash", minimal + "staff: {pins: {amy: 'sha256:abcd'}}\n", `config: staff.pins.amy: want "sha256:" and 64 hex digits (line 4)`},
		{"not hex", minimal + "staff: {pins: {amy: 'sha256:" + strings.Repeat("g", 64) + "'}}\n", `config: staff.pins.amy: want "sha256:" and 64 hex digits (line 4)`},
		{"pbkdf2", minimal + "staff: {pins: {amy: 'pbkdf2-sha256$1000$salt$x'}}\n", `config: staff.pins.amy: only "sha256:<hex>" hashes are supported (line 4)`},
		{"bad staff id", minimal + "staff: {pins: {'a/b': 'sha256:" + HashPIN("1")[7:] + "'}}\n", `config: staff.pins."a/b": staff id "a/b" has '/'; use only A-Z a-z 0-9 . _ - (line 4)`},
		{"shared pin", minimal + "staff: {pins: {amy: '" + HashPIN("1") + "', bob: '" + HashPIN("1") + "'}}\n", "config: staff.pins.bob: same PIN as staff.pins.amy (line 4)"},
		{"clear card", minimal + "staff: {cards: [04A1B2C3]}\n",
			`config: staff.cards[0]: looks like a card UID in clear; write its hash instead: "sha256:" and the output of printf %s 04A1B2C3 | sha256sum, the UID in upper-case hex without separators (line 4)`},
		{"card twice", minimal + "staff: {cards: ['" + HashCard("04a1") + "', '" + HashCard("04:A1") + "']}\n", "config: staff.cards[1]: same card as staff.cards[0] (line 4)"},
		{"attempts", minimal + "staff: {max_attempts: 101}\n", "config: staff.max_attempts: 101 is not within 1..100 (line 4)"},
		{"attempts negative", minimal + "staff: {max_attempts: -1}\n", "config: staff.max_attempts: -1 is not within 1..100 (line 4)"},
		{"lockout", minimal + "staff: {lockout: 25h}\n", "config: staff.lockout: 25h0m0s is longer than 24h0m0s (line 4)"},
		{"session", minimal + "staff: {session: -1m}\n", "config: staff.session: -1m0s is negative (line 4)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseBox([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("parsed: %+v", b)
			}
			if err.Error() != tc.want {
				t.Errorf("got  %s\nwant %s", err, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("%T is not an *Error", err)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "1234") {
				t.Errorf("error repeats a secret: %s", err)
			}
		})
	}
}

func TestParseBox_zoneAndTLS(t *testing.T) {
	b, err := ParseBox([]byte(`box: {id: gate-2, venue: v, org: o, zone: vip}
state_dir: s
trust: [a.pub, b.pub]
mqtt: {url: 'tls://broker.example.com:8883', ca: ca.pem, cert: box.pem, key: box.key}
`))
	if err != nil {
		t.Fatal(err)
	}
	if b.Box.Zone != "vip" || len(b.Trust) != 2 || b.MQTT.Key != "box.key" {
		t.Errorf("got %+v", b)
	}
	for _, url := range []string{"ssl://b:8883", "mqtts://b:8883", "wss://b/mqtt", "ws://b:9001/mqtt", "mqtt://[::1]:1883", "tcp://u:p@b:1883"} {
		cfg := minimal + "mqtt: {url: '" + url + "', ca: ca.pem}\n"
		if strings.HasPrefix(url, "ws:") || strings.HasPrefix(url, "mqtt:") || strings.HasPrefix(url, "tcp:") {
			cfg = minimal + "mqtt: {url: '" + url + "'}\n"
		}
		if _, err := ParseBox([]byte(cfg)); err != nil {
			t.Errorf("%s: %v", url, err)
		}
	}
}

func TestLoadBox_resolvesRelativeNames(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "venuebox.yaml")
	writeFile(t, path, `box: {id: g, venue: v, org: o}
state_dir: state
trust: [keys/a.pub, /etc/venuebox/b.pub]
manifest: m.json
mqtt: {url: 'tls://b:8883', ca: tls/ca.pem, cert: /abs/box.pem, key: tls/box.key}
devices: {scanner: {driver: serial, port: ttyACM0}}
`)
	b, err := LoadBox(path)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{b.StateDir, b.Trust[0], b.Trust[1], b.Manifest, b.MQTT.CA, b.MQTT.Cert, b.MQTT.Key, b.Devices.Scanner.Port}
	want := []string{
		filepath.Join(dir, "state"), filepath.Join(dir, "keys/a.pub"), "/etc/venuebox/b.pub",
		filepath.Join(dir, "m.json"), filepath.Join(dir, "tls/ca.pem"), "/abs/box.pem", filepath.Join(dir, "tls/box.key"),
		"ttyACM0", // a device is not a file of the config
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}

	// A relative config path resolves against the working directory first.
	t.Chdir(dir)
	b, err = LoadBox("venuebox.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if b.StateDir != filepath.Join(dir, "state") {
		t.Errorf("state_dir %q, want %q", b.StateDir, filepath.Join(dir, "state"))
	}
	// No manifest stays no manifest.
	writeFile(t, path, minimal)
	if b, err = LoadBox(path); err != nil || b.Manifest != "" {
		t.Errorf("manifest %q, err %v", b.Manifest, err)
	}
}

func TestLoadBox_errors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "venuebox.yaml")

	_, err := LoadBox(path)
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "config: open ") {
		t.Errorf("missing file: %v", err)
	}

	writeFile(t, path, minimal+"devices: {scanner: {driver: serial, port: p, baud: 12}}\n")
	_, err = LoadBox(path)
	want := "config: devices.scanner.baud: 12 is not a standard rate (" + path + ":4)"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	var e *Error
	if !errors.As(err, &e) || e.File != path || e.Line != 4 || e.Path != "devices.scanner.baud" {
		t.Errorf("got %#v", e)
	}

	writeFile(t, path, minimal+"#"+strings.Repeat("x", maxFileSize)+"\n")
	_, err = LoadBox(path)
	want = "config: file is larger than 1048576 bytes (" + path + ")"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	if _, err := ParseBox([]byte(minimal + "#" + strings.Repeat("x", maxFileSize) + "\n")); err == nil {
		t.Error("ParseBox took an oversized file")
	}

	if _, err := LoadBox(dir); err == nil {
		t.Error("LoadBox read a directory")
	}
}

// TestParseBox_aliases: anchors and aliases work as YAML says, and a file of
// nested aliases (a "billion laughs") is refused without being expanded.
func TestParseBox_aliases(t *testing.T) {
	b, err := ParseBox([]byte("box: {id: &n g1, venue: *n, org: *n}\nstate_dir: /s\ntrust: [k]\n"))
	if err != nil || b.Box.Venue != "g1" {
		t.Fatalf("got %+v, %v", b, err)
	}

	var bomb strings.Builder
	bomb.WriteString("box: {id: g1, venue: v1, org: o1}\nstate_dir: /s\ntrust:\n  - &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		prev := "*a" + itoa(i-1)
		fmt.Fprintf(&bomb, "  - &a%d [%s]\n", i, strings.Repeat(prev+", ", 9)+prev)
	}
	_, err = ParseBox([]byte(bomb.String()))
	if want := "config: trust[0]: want a string, got a list (line 4)"; err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
