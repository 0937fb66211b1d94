// Command venuebox-hq is HQ: it receives the boxes' check-ins exactly
// once, keeps and pushes the events' manifests, sends revocations, and
// serves attendance, conflicts and the fleet.
//
//	venuebox-hq -config /etc/venuebox-hq/venuebox-hq.yaml
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/hq"
	"venuebox/cmd/internal/version"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("venuebox-hq", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfgPath := fs.String("config", "", "HQ configuration `file` (YAML)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "usage: venuebox-hq -config FILE | -version\n\nflags:")
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return 0
	}
	if err == nil && *showVersion {
		fmt.Fprintln(stdout, version.String("venuebox-hq"))
		return 0
	}
	if err == nil && *cfgPath == "" {
		err = errors.New("give -config FILE")
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err != nil {
		fmt.Fprintf(stderr, "venuebox-hq: %v (run 'venuebox-hq -h' for usage)\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *cfgPath, log); err != nil {
		fmt.Fprintf(stderr, "venuebox-hq: %v\n", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, path string, log *slog.Logger) error {
	cfg, err := config.LoadHQ(path)
	if err != nil {
		return err
	}
	h, err := hq.Start(cfg, log)
	if err != nil {
		return err
	}
	return h.Run(ctx)
}
