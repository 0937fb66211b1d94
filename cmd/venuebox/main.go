// Command venuebox is the operator's tool: signing keys, tickets and
// manifests, and hardware checks.
//
//	venuebox keygen -out DIR
//	venuebox issue -key DIR/signing.key -event ID -in attendees.csv -out DIR [-from T -until T] [-zone Z]
//	venuebox verify -pub FILE CODE
//
// Each subcommand lives in its own file and registers itself in commands.
// Every subcommand prints its usage with -h (exit 0) and exits 2 with one
// line on stderr for bad flags or input.
package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// command is one subcommand.
type command struct {
	summary string                                            // one line for the overview
	run     func(args []string, stdout, stderr io.Writer) int // returns the exit status
}

// commands maps subcommand names to their implementations; each file adds
// its own in an init function.
var commands = map[string]command{}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run dispatches args to a subcommand and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "venuebox: unknown command %q (run 'venuebox -h' for the list)\n", args[0])
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	var b strings.Builder
	b.WriteString("usage: venuebox COMMAND [flags]; 'venuebox COMMAND -h' for a command's flags\n\ncommands:\n")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(&b, "  %-8s %s\n", name, commands[name].summary)
	}
	io.WriteString(w, b.String())
}
