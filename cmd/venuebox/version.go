package main

import (
	"fmt"
	"io"

	"venuebox/cmd/internal/version"
)

// The version is a subcommand and, like venueboxd's and venuebox-hq's,
// the -version flag.
func init() {
	c := command{summary: "print the version (also: venuebox -version)", run: runVersion}
	commands["version"] = c
	commands["-version"] = command{summary: "print the version", run: runVersion}
}

func runVersion(args []string, stdout, stderr io.Writer) int {
	f := newFlags("version", "", "Prints the version stamped in by scripts/build (\"devel\" for go run).")
	if code, ok := f.parse(args, stdout, stderr); !ok {
		return code
	}
	if f.NArg() > 0 {
		return f.fail(stderr, exitUsage, fmt.Errorf("unexpected argument %q", f.Arg(0)))
	}
	fmt.Fprintln(stdout, version.String("venuebox"))
	return exitOK
}
