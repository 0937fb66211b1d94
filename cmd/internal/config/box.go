package config

import (
	"time"
)

// Box is the box daemon's configuration.
type Box struct {
	Box      Identity `yaml:"box"`
	StateDir string   `yaml:"state_dir"` // the bbolt store and other state; required
	Trust    []string `yaml:"trust"`     // public key files; tickets signed by any of them are valid
	Manifest string   `yaml:"manifest"`  // optional manifest file to load at start
	HTTP     HTTP     `yaml:"http"`
	MQTT     MQTT     `yaml:"mqtt"`
	Devices  Devices  `yaml:"devices"`
	Policy   Policy   `yaml:"policy"`
	Staff    Staff    `yaml:"staff"`
}

// Identity names a box. ID, Venue and Org are levels of the box's MQTT topic
// root venuebox/{org}/{venue}/{id}, so each is 1 to 64 bytes of A-Z, a-z,
// 0-9, '.', '_' and '-'.
type Identity struct {
	ID    string `yaml:"id"`    // the gate, unique within its venue; required
	Venue string `yaml:"venue"` // required
	Org   string `yaml:"org"`   // required
	// Zone is the gate's zone. "" is a main entrance, which admits every
	// ticket whatever its zone; a gate with a zone admits tickets without
	// a zone and tickets of its own zone, and rejects the others as
	// wrong-zone.
	Zone string `yaml:"zone"`
}

// HTTP is where a daemon serves its HTTP API (and, on the box, the kiosk
// screen).
type HTTP struct {
	// Listen is a host:port; the default is 127.0.0.1:8080 on the box and
	// 127.0.0.1:8090 on HQ. An empty host listens on every interface.
	Listen string `yaml:"listen"`
}

// MQTT is the connection to the broker.
type MQTT struct {
	// URL is the broker, with scheme tcp://, mqtt://, ws:// (plain) or
	// tls://, ssl://, mqtts://, wss:// (TLS). Empty means no broker: the box
	// works offline and queues its check-ins.
	URL  string `yaml:"url"`
	CA   string `yaml:"ca"`   // PEM file of the CA that signed the broker's certificate; required with TLS
	Cert string `yaml:"cert"` // PEM client certificate, with Key; optional
	Key  string `yaml:"key"`  // PEM private key of Cert
}

// Policy tunes the gate's decision.
type Policy struct {
	// DoubleScanWindow is how long the same code scanned again at the same
	// gate is the same person scanning twice: the scan repeats the first
	// verdict and records nothing. Default 3s, at most 1m, since within it a
	// code passed back over the turnstile would admit again.
	DoubleScanWindow time.Duration `yaml:"double_scan_window"`
	// Reentry, when set, overrides whether an admitted ticket may enter
	// again after leaving; nil keeps each event's own rule from its manifest.
	Reentry *bool `yaml:"reentry"`
	// FeverC is the temperature in °C at or above which a scan is held for
	// staff; default 37.3, within 35..42.
	FeverC float64 `yaml:"fever_c"`
	// ClockSkew is the grace on each side of a ticket's validity window, for
	// a box whose clock is off; default 5m, at most 1h.
	ClockSkew time.Duration `yaml:"clock_skew"`
}

// Defaults of a Box.
const (
	defaultBoxListen        = "127.0.0.1:8080"
	defaultDoubleScanWindow = 3 * time.Second
	maxDoubleScanWindow     = time.Minute
	defaultFeverC           = 37.3
	minFeverC, maxFeverC    = 35.0, 42.0
	defaultClockSkew        = 5 * time.Minute
	maxClockSkew            = time.Hour
)

// LoadBox reads the box configuration at path, applies defaults, validates
// it, and resolves the relative file names in state_dir, trust, manifest and
// mqtt.{ca,cert,key} against the directory that holds path.
func LoadBox(path string) (*Box, error) {
	data, dir, err := readFile(path)
	if err != nil {
		return nil, err
	}
	b, err := ParseBox(data)
	if err != nil {
		return nil, inFile(err, path)
	}
	b.StateDir = resolve(dir, b.StateDir)
	for i := range b.Trust {
		b.Trust[i] = resolve(dir, b.Trust[i])
	}
	b.Manifest = resolve(dir, b.Manifest)
	b.MQTT.resolve(dir)
	return b, nil
}

// ParseBox parses a box configuration, applies defaults and validates it.
// File names are left as written.
func ParseBox(data []byte) (*Box, error) {
	var b Box
	lines, err := decode(data, &b)
	if err != nil {
		return nil, err
	}
	b.defaults()
	if e := b.validate(); e != nil {
		e.locate(lines)
		return nil, e
	}
	return &b, nil
}

func (b *Box) defaults() {
	if b.HTTP.Listen == "" {
		b.HTTP.Listen = defaultBoxListen
	}
	b.Devices.defaults()
	if b.Policy.DoubleScanWindow == 0 {
		b.Policy.DoubleScanWindow = defaultDoubleScanWindow
	}
	if b.Policy.FeverC == 0 {
		b.Policy.FeverC = defaultFeverC
	}
	if b.Policy.ClockSkew == 0 {
		b.Policy.ClockSkew = defaultClockSkew
	}
	b.Staff.defaults()
	// An empty list is no list, so that a Box reads the same however the
	// file spelt "none".
	if len(b.Trust) == 0 {
		b.Trust = nil
	}
}

func (b *Box) validate() *Error {
	id := b.Box
	for _, f := range []struct {
		key, v   string
		required bool
	}{
		{"box.id", id.ID, true},
		{"box.venue", id.Venue, true},
		{"box.org", id.Org, true},
		{"box.zone", id.Zone, false},
	} {
		if e := topicLevel(f.key, f.v, f.required); e != nil {
			return e
		}
	}
	if e := fileName("state_dir", b.StateDir, true); e != nil {
		return e
	}
	if len(b.Trust) == 0 {
		return errorf("trust", "list at least one public key file")
	}
	seen := map[string]int{}
	for i, f := range b.Trust {
		key := "trust[" + itoa(i) + "]"
		if e := fileName(key, f, true); e != nil {
			return e
		}
		if j, dup := seen[f]; dup {
			return errorf(key, "same file as trust[%d]", j)
		}
		seen[f] = i
	}
	if e := fileName("manifest", b.Manifest, false); e != nil {
		return e
	}
	if e := listen("http.listen", b.HTTP.Listen); e != nil {
		return e
	}
	if e := b.MQTT.validate("mqtt"); e != nil {
		return e
	}
	if e := b.Devices.validate("devices"); e != nil {
		return e
	}
	if e := b.Policy.validate("policy"); e != nil {
		return e
	}
	return b.Staff.validate("staff")
}

func (p *Policy) validate(path string) *Error {
	if e := duration(path+".double_scan_window", p.DoubleScanWindow, maxDoubleScanWindow); e != nil {
		return e
	}
	if !(p.FeverC >= minFeverC && p.FeverC <= maxFeverC) {
		return errorf(path+".fever_c", "%v is not within %v..%v °C", p.FeverC, minFeverC, maxFeverC)
	}
	return duration(path+".clock_skew", p.ClockSkew, maxClockSkew)
}
