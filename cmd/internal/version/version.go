// Package version holds the version stamped into the binaries at build
// time by scripts/build:
//
//	go build -ldflags "-X venuebox/cmd/internal/version.Version=$(git describe --always --dirty)"
//
// A plain go build or go run leaves it "devel".
package version

import (
	"runtime"
	"runtime/debug"
)

// Version is the build's version, from git describe.
var Version = "devel"

// String returns the line each binary's -version prints: the program's
// name, the version, and the Go toolchain and platform it was built for,
// e.g. "venueboxd v0.3-12-gabc1234 (go1.26.8 linux/arm GOARM=7)".
func String(program string) string {
	return program + " " + Version + " (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + armLevel() + ")"
}

// armLevel returns " GOARM=7" (or the level the build used) for a 32-bit
// ARM build, whose GOARCH alone does not say which floating point it needs.
func armLevel() string {
	info, ok := debug.ReadBuildInfo()
	if !ok || runtime.GOARCH != "arm" {
		return ""
	}
	for _, s := range info.Settings {
		if s.Key == "GOARM" {
			return " GOARM=" + s.Value
		}
	}
	return ""
}
