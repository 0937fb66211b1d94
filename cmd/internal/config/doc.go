// Package config reads and validates the YAML configuration of the box
// daemon (venueboxd) and of HQ (venuebox-hq).
//
// # Files
//
// The box reads one file, by convention /etc/venuebox/venuebox.yaml; HQ reads
// /etc/venuebox-hq/venuebox-hq.yaml. Annotated examples of both, with every
// key, live in the repository's firmware-config directory, and a test loads
// every file there so that none can drift from this package.
//
// A file is one YAML document of at most 1 MiB. Every key must be one this
// package knows: a misspelt or unknown key, a repeated key, or a value of the
// wrong kind is an error that names the key's path and line, as in
//
//	config: devices.scanner.bauds: unknown key, did you mean "baud"? (line 12)
//	config: devices.scanner.baud: 12 is not a standard rate (venuebox.yaml:12)
//
// Every error has the form "config: <key path>: <problem>", followed by where
// the key is when that is known; the value is an [*Error]. Values that may be
// secret (PIN hashes, MQTT URLs, the PostgreSQL DSN) are never repeated in
// an error.
//
// [LoadBox] and [LoadHQ] read a file, resolve the relative file names in it
// (state_dir, trust, manifest, signing_key, token_file and the MQTT TLS
// files) against the directory that holds the config file, and return the
// result; [ParseBox] and [ParseHQ] do the same from bytes without touching
// file names.
//
// # Defaults
//
// A key that is absent, empty or zero takes its default:
//
//	http.listen                 127.0.0.1:8080 (box), 127.0.0.1:8090 (HQ)
//	devices.scanner.baud        115200 (driver serial)
//	devices.scanner.suffix      cr     (driver serial)
//	devices.nfc.baud            115200 (pn532), 9600 (rdm6300)
//	devices.thermo.addr         0x5a   (driver mlx90614)
//	devices.thermo.samples      5
//	policy.double_scan_window   3s
//	policy.fever_c              37.3
//	policy.clock_skew           5m
//	staff.max_attempts          5
//	staff.lockout               5m
//	staff.session               10m
//	store.driver                bbolt  (HQ)
//
// Zero therefore never means "off": a window or lockout cannot be disabled,
// only shortened. A device whose key is absent is not fitted, and a box works
// with any subset of devices; mqtt.url absent means the box runs without HQ.
//
// # Secrets
//
// Staff PINs are stored as "sha256:" and the hex SHA-256 of the PIN
// ([HashPIN]), staff cards as "sha256:" and the hex SHA-256 of the card UID
// in canonical form ([HashCard]), so that no PIN or card UID is in the file in
// clear. A short PIN is easy to find from its hash by trying them all: the
// hash keeps PINs out of sight, not out of reach, and the file should still
// be readable by the daemon's user only (mode 0600).
package config
