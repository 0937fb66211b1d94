package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"venuebox/cmd/internal/ticket"
)

func init() {
	commands["keygen"] = command{summary: "write a new Ed25519 signing key pair", run: runKeygen}
}

func runKeygen(args []string, stdout, stderr io.Writer) int {
	f := newFlags("keygen", "-out DIR",
		"Writes DIR/"+ticket.PrivateKeyFile+" (mode 0600: keep it secret, it signs tickets and manifests)\n"+
			"and DIR/"+ticket.PublicKeyFile+" (give it to every box that must trust the tickets).\n"+
			"The key id printed is derived from the public key. An existing key is never overwritten.")
	out := f.String("out", "", "directory for the key pair (created if missing)")
	if code, ok := f.parse(args, stdout, stderr); !ok {
		return code
	}
	if f.NArg() > 0 {
		return f.fail(stderr, exitUsage, fmt.Errorf("unexpected argument %q", f.Arg(0)))
	}
	if *out == "" {
		return f.fail(stderr, exitUsage, errors.New("-out DIR is required"))
	}
	for _, name := range []string{ticket.PrivateKeyFile, ticket.PublicKeyFile} {
		if _, err := os.Lstat(filepath.Join(*out, name)); err == nil {
			return f.fail(stderr, exitUsage, fmt.Errorf("%s already exists; a key is never overwritten", filepath.Join(*out, name)))
		}
	}
	id, err := ticket.GenerateKey(*out)
	if err != nil {
		return f.fail(stderr, exitFail, err)
	}
	fmt.Fprintf(stdout, "key id %s: wrote %s (secret) and %s\n", id,
		filepath.Join(*out, ticket.PrivateKeyFile), filepath.Join(*out, ticket.PublicKeyFile))
	return exitOK
}
