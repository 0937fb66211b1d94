// Package pi has no code: its tests check what goes onto a Raspberry Pi
// beside the binaries. The units in systemd/ pass systemd-analyze verify
// and venueboxd.service's security exposure stays under 3.0; the
// config.txt fragment, udev rules and watchdog drop-in in firmware-config/
// are well-formed and agree with the unit; scripts/build's arm64 and armv7
// binaries are static and run `venuebox selftest` under qemu-user; and
// scripts/install-pi installs into a folder twice with the same result.
package pi
