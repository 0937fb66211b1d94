package config

import (
	"math"
	"regexp"
	"slices"
	"strconv"
)

// Devices are the box's peripherals. A nil device is not fitted; a box works
// with any subset, and a scanner alone is a valid gate.
type Devices struct {
	Scanner *Scanner `yaml:"scanner"`
	NFC     *NFC     `yaml:"nfc"`
	Thermo  *Thermo  `yaml:"thermo"`
	Signal  *Signal  `yaml:"signal"`
}

// Scanner drivers.
const (
	ScannerSerial = "serial" // a scanner on a serial port (USB CDC-ACM or UART): Port, Baud, Suffix
	ScannerEvdev  = "evdev"  // a USB-HID scanner that types like a keyboard: Device
	ScannerCamera = "camera" // frames from a camera command, decoded in software: Command
	ScannerSim    = "sim"    // simulated, for -demo and tests
)

// Scanner is a QR code scanner. Only the fields of its driver may be set.
type Scanner struct {
	Driver string `yaml:"driver"` // serial, evdev, camera or sim
	Port   string `yaml:"port"`   // serial: the port, e.g. /dev/ttyACM0
	Baud   int    `yaml:"baud"`   // serial: line rate, default 115200
	// Suffix is what the scanner sends after each code (serial): cr
	// (the default), lf, crlf or none (codes are split by a pause).
	Suffix  string   `yaml:"suffix"`
	Device  string   `yaml:"device"`  // evdev: the input device, e.g. /dev/input/by-id/...-event-kbd
	Command []string `yaml:"command"` // camera: argv of a command that writes frames to its standard output
}

// Scanner suffixes.
const (
	SuffixCR   = "cr"
	SuffixLF   = "lf"
	SuffixCRLF = "crlf"
	SuffixNone = "none"
)

// NFC drivers.
const (
	NFCPN532   = "pn532"   // NXP PN532 over UART (HSU): Port, Baud
	NFCRDM6300 = "rdm6300" // RDM6300 125 kHz reader over UART, 9600 baud only: Port
	NFCEvdev   = "evdev"   // a USB reader that types the UID like a keyboard: Device
	NFCSim     = "sim"     // simulated
)

// NFC is the member-card reader. Only the fields of its driver may be set.
type NFC struct {
	Driver string `yaml:"driver"` // pn532, rdm6300, evdev or sim
	Port   string `yaml:"port"`   // pn532, rdm6300: the serial port, e.g. /dev/ttyAMA0
	Baud   int    `yaml:"baud"`   // pn532: default 115200; rdm6300: 9600 (the only rate it has)
	Device string `yaml:"device"` // evdev: the input device
}

// Thermometer drivers.
const (
	ThermoMLX90614 = "mlx90614" // Melexis MLX90614 IR thermometer on I2C (SMBus): Bus, Addr
	ThermoSim      = "sim"      // simulated
)

// Thermo is the IR thermometer.
type Thermo struct {
	Driver string `yaml:"driver"` // mlx90614 or sim
	Bus    string `yaml:"bus"`    // mlx90614: the I2C bus, e.g. /dev/i2c-1
	// Addr is the 7-bit I2C address (mlx90614), default 0x5a; YAML takes
	// hex literals such as 0x5a.
	Addr int `yaml:"addr"`
	// OffsetC is added to every reading, in °C, to calibrate a forehead
	// reading against a reference; within -10..10.
	OffsetC float64 `yaml:"offset_c"`
	// Samples is how many readings are averaged per measurement, default 5,
	// within 1..50.
	Samples int `yaml:"samples"`
}

// Signal is the gate's outputs on GPIO pins named as on the SoC (GPIO17 is
// BCM GPIO 17, header pin 11). Any may be empty: that output is not fitted.
// No pin may serve two outputs.
type Signal struct {
	Green  string `yaml:"green"`  // green LED: admitted
	Red    string `yaml:"red"`    // red LED: rejected
	Buzzer string `yaml:"buzzer"` // buzzer
	Relay  string `yaml:"relay"`  // turnstile or door relay
}

// Device defaults and limits.
const (
	defaultSerialBaud  = 115200
	defaultRDM6300Baud = 9600
	defaultThermoAddr  = 0x5a
	defaultSamples     = 5
	maxSamples         = 50
	maxOffsetC         = 10.0
)

// standardBauds are the serial rates the drivers and Linux UARTs agree on.
var standardBauds = []int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600}

var pinName = regexp.MustCompile(`^GPIO[0-9]{1,2}$`)

func (d *Devices) defaults() {
	if s := d.Scanner; s != nil && s.Driver == ScannerSerial {
		if s.Baud == 0 {
			s.Baud = defaultSerialBaud
		}
		if s.Suffix == "" {
			s.Suffix = SuffixCR
		}
	}
	if s := d.Scanner; s != nil && len(s.Command) == 0 {
		s.Command = nil
	}
	if n := d.NFC; n != nil && n.Baud == 0 {
		switch n.Driver {
		case NFCPN532:
			n.Baud = defaultSerialBaud
		case NFCRDM6300:
			n.Baud = defaultRDM6300Baud
		}
	}
	if t := d.Thermo; t != nil {
		if t.Driver == ThermoMLX90614 && t.Addr == 0 {
			t.Addr = defaultThermoAddr
		}
		if t.Samples == 0 {
			t.Samples = defaultSamples
		}
	}
}

func (d *Devices) validate(path string) *Error {
	if s := d.Scanner; s != nil {
		if e := s.validate(path + ".scanner"); e != nil {
			return e
		}
	}
	if n := d.NFC; n != nil {
		if e := n.validate(path + ".nfc"); e != nil {
			return e
		}
	}
	if t := d.Thermo; t != nil {
		if e := t.validate(path + ".thermo"); e != nil {
			return e
		}
	}
	if s := d.Signal; s != nil {
		return s.validate(path + ".signal")
	}
	return nil
}

// field is one key of a device: its name, whether it is set, and whether
// the device's driver requires it. A field listed without required is one
// the driver does not use.
type field struct {
	key      string
	set      bool
	required bool
}

// fields checks that a driver's required fields are set and that no field
// of another driver is.
func fields(path, driver string, fs ...field) *Error {
	for _, f := range fs {
		switch {
		case f.required && !f.set:
			return errorf(path+"."+f.key, "required with driver %s", driver)
		case f.set && !f.required:
			return errorf(path+"."+f.key, "not used by driver %s", driver)
		}
	}
	return nil
}

func (s *Scanner) validate(path string) *Error {
	var e *Error
	switch s.Driver {
	case ScannerSerial:
		e = fields(path, s.Driver,
			field{key: "port", set: s.Port != "", required: true},
			field{key: "device", set: s.Device != ""},
			field{key: "command", set: s.Command != nil})
		if e == nil {
			e = baud(path+".baud", s.Baud)
		}
		if e == nil && !slices.Contains([]string{SuffixCR, SuffixLF, SuffixCRLF, SuffixNone}, s.Suffix) {
			e = errorf(path+".suffix", "%s is not one of cr, lf, crlf, none", quote(s.Suffix))
		}
	case ScannerEvdev:
		e = fields(path, s.Driver,
			field{key: "device", set: s.Device != "", required: true},
			field{key: "port", set: s.Port != ""},
			field{key: "baud", set: s.Baud != 0},
			field{key: "suffix", set: s.Suffix != ""},
			field{key: "command", set: s.Command != nil})
	case ScannerCamera:
		e = fields(path, s.Driver,
			field{key: "command", set: s.Command != nil, required: true},
			field{key: "port", set: s.Port != ""},
			field{key: "baud", set: s.Baud != 0},
			field{key: "suffix", set: s.Suffix != ""},
			field{key: "device", set: s.Device != ""})
		for i, arg := range s.Command {
			if e != nil {
				break
			}
			key := path + ".command[" + strconv.Itoa(i) + "]"
			if i == 0 && arg == "" {
				e = errorf(key, "the program is empty")
			} else if hasControl(arg) {
				e = errorf(key, "has control characters")
			}
		}
	case ScannerSim:
		e = fields(path, s.Driver,
			field{key: "port", set: s.Port != ""},
			field{key: "baud", set: s.Baud != 0},
			field{key: "suffix", set: s.Suffix != ""},
			field{key: "device", set: s.Device != ""},
			field{key: "command", set: s.Command != nil})
	case "":
		return errorf(path+".driver", "required: serial, evdev, camera or sim")
	default:
		return errorf(path+".driver", "%s is not a scanner driver; want serial, evdev, camera or sim", quote(s.Driver))
	}
	if e != nil {
		return e
	}
	if e := fileName(path+".port", s.Port, false); e != nil {
		return e
	}
	return fileName(path+".device", s.Device, false)
}

func (n *NFC) validate(path string) *Error {
	var e *Error
	switch n.Driver {
	case NFCPN532, NFCRDM6300:
		e = fields(path, n.Driver,
			field{key: "port", set: n.Port != "", required: true},
			field{key: "device", set: n.Device != ""})
		if e == nil {
			e = baud(path+".baud", n.Baud)
		}
		if e == nil && n.Driver == NFCRDM6300 && n.Baud != defaultRDM6300Baud {
			e = errorf(path+".baud", "%d, but the rdm6300 talks at 9600 only", n.Baud)
		}
	case NFCEvdev:
		e = fields(path, n.Driver,
			field{key: "device", set: n.Device != "", required: true},
			field{key: "port", set: n.Port != ""},
			field{key: "baud", set: n.Baud != 0})
	case NFCSim:
		e = fields(path, n.Driver,
			field{key: "port", set: n.Port != ""},
			field{key: "baud", set: n.Baud != 0},
			field{key: "device", set: n.Device != ""})
	case "":
		return errorf(path+".driver", "required: pn532, rdm6300, evdev or sim")
	default:
		return errorf(path+".driver", "%s is not a card reader driver; want pn532, rdm6300, evdev or sim", quote(n.Driver))
	}
	if e != nil {
		return e
	}
	if e := fileName(path+".port", n.Port, false); e != nil {
		return e
	}
	return fileName(path+".device", n.Device, false)
}

func (t *Thermo) validate(path string) *Error {
	var e *Error
	switch t.Driver {
	case ThermoMLX90614:
		e = fields(path, t.Driver, field{key: "bus", set: t.Bus != "", required: true})
		if e == nil {
			e = fileName(path+".bus", t.Bus, true)
		}
		// 0x03..0x77 are the addresses an i2cdetect scan covers; the rest
		// are reserved by the I2C specification.
		if e == nil && (t.Addr < 0x03 || t.Addr > 0x77) {
			e = errorf(path+".addr", "%#x is not a 7-bit device address within 0x03..0x77", t.Addr)
		}
	case ThermoSim:
		e = fields(path, t.Driver,
			field{key: "bus", set: t.Bus != ""},
			field{key: "addr", set: t.Addr != 0})
	case "":
		return errorf(path+".driver", "required: mlx90614 or sim")
	default:
		return errorf(path+".driver", "%s is not a thermometer driver; want mlx90614 or sim", quote(t.Driver))
	}
	if e != nil {
		return e
	}
	if !(math.Abs(t.OffsetC) <= maxOffsetC) {
		return errorf(path+".offset_c", "%v is not within -%v..%v °C", t.OffsetC, maxOffsetC, maxOffsetC)
	}
	if t.Samples < 1 || t.Samples > maxSamples {
		return errorf(path+".samples", "%d is not within 1..%d", t.Samples, maxSamples)
	}
	return nil
}

func (s *Signal) validate(path string) *Error {
	used := map[string]string{}
	for _, p := range []struct{ key, pin string }{
		{"green", s.Green}, {"red", s.Red}, {"buzzer", s.Buzzer}, {"relay", s.Relay},
	} {
		if p.pin == "" {
			continue
		}
		key := path + "." + p.key
		if !pinName.MatchString(p.pin) {
			return errorf(key, "%s is not a pin name such as GPIO17", quote(p.pin))
		}
		if len(p.pin) == 6 && p.pin[4] == '0' {
			return errorf(key, "write %s as GPIO%c", p.pin, p.pin[5])
		}
		if other, dup := used[p.pin]; dup {
			return errorf(key, "%s is already %s.%s", p.pin, path, other)
		}
		used[p.pin] = p.key
	}
	return nil
}

// baud checks a serial line rate.
func baud(path string, n int) *Error {
	if !slices.Contains(standardBauds, n) {
		return errorf(path, "%d is not a standard rate", n)
	}
	return nil
}
