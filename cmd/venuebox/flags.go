package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit statuses shared by the subcommands.
const (
	exitOK    = 0
	exitFail  = 1 // the operation failed (verify: the signature does not hold)
	exitUsage = 2 // bad flags or unusable input
)

// cmdFlags is a subcommand's flag set with venuebox's conventions: -h prints
// usage to stdout and exits 0, a bad flag is one line on stderr and exit 2.
type cmdFlags struct {
	*flag.FlagSet
	name, synopsis, about string
}

func newFlags(name, synopsis, about string) *cmdFlags {
	fs := flag.NewFlagSet("venuebox "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &cmdFlags{FlagSet: fs, name: name, synopsis: synopsis, about: about}
}

// parse parses args; when ok is false the caller returns code.
func (f *cmdFlags) parse(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	err := f.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		f.printUsage(stdout)
		return exitOK, false
	}
	if err != nil {
		return f.fail(stderr, exitUsage, err), false
	}
	return exitOK, true
}

func (f *cmdFlags) printUsage(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: venuebox %s %s\n\n%s\n\nflags:\n", f.name, f.synopsis, f.about)
	f.SetOutput(&b)
	f.PrintDefaults()
	f.SetOutput(io.Discard)
	io.WriteString(w, b.String())
}

// fail prints err as one line on stderr and returns code.
func (f *cmdFlags) fail(stderr io.Writer, code int, err error) int {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	if code == exitUsage {
		msg += " (run 'venuebox " + f.name + " -h' for usage)"
	}
	fmt.Fprintf(stderr, "venuebox %s: %s\n", f.name, msg)
	return code
}
