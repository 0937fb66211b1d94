package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"venuebox/cmd/internal/ticket"
)

func init() {
	commands["verify"] = command{summary: "check a ticket code's signature and print what it says", run: runVerify}
}

func runVerify(args []string, stdout, stderr io.Writer) int {
	f := newFlags("verify", "-pub FILE [-pub FILE ...] CODE",
		"Checks CODE's signature against the public key(s) and prints the decoded ticket.\n"+
			"Exit status: 0 the signature holds, 1 it does not (or the key is not trusted),\n"+
			"2 unusable input (no signed code, unreadable key). Quote the code: it may hold spaces.")
	var pubs []string
	f.Func("pub", "trusted public key `FILE` (PEM, as keygen writes it); repeat for several", func(s string) error {
		pubs = append(pubs, s)
		return nil
	})
	if code, ok := f.parse(args, stdout, stderr); !ok {
		return code
	}
	if len(pubs) == 0 {
		return f.fail(stderr, exitUsage, errors.New("-pub FILE is required"))
	}
	if f.NArg() != 1 {
		return f.fail(stderr, exitUsage, fmt.Errorf("want exactly one CODE argument, got %d", f.NArg()))
	}
	keys := make([]ed25519.PublicKey, 0, len(pubs))
	for _, path := range pubs {
		pub, err := ticket.LoadPublicKey(path)
		if err != nil {
			return f.fail(stderr, exitUsage, err)
		}
		keys = append(keys, pub)
	}
	code := strings.TrimRight(f.Arg(0), "\r\n")
	p, err := ticket.NewKeyring(keys...).Verify(code)
	switch {
	case errors.Is(err, ticket.ErrBadSignature), errors.Is(err, ticket.ErrUnknownKey):
		return f.fail(stderr, exitFail, fmt.Errorf("invalid: %w", err))
	case err != nil:
		return f.fail(stderr, exitUsage, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "valid: signature holds (key %s)\n", p.Key)
	fmt.Fprintf(&b, "ticket:    %s\n", p.TicketID())
	fmt.Fprintf(&b, "event tag: %x\n", p.Event[:])
	if p.HasZone {
		fmt.Fprintf(&b, "zone tag:  %02x\n", p.Zone)
	} else {
		b.WriteString("zone:      any\n")
	}
	if p.HasWindow() {
		fmt.Fprintf(&b, "valid:     %s .. %s\n", p.From.Format(time.RFC3339), p.Until.Format(time.RFC3339))
	} else {
		b.WriteString("valid:     no window\n")
	}
	fmt.Fprintf(&b, "log id:    %s\n", ticket.LogID(code))
	io.WriteString(stdout, b.String())
	return exitOK
}
