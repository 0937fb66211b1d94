// Command venueboxd is the box daemon: it drives a gate's devices, decides
// each scan offline, records it durably before it signals, and serves the
// kiosk API.
//
//	venueboxd -config /etc/venuebox/venuebox.yaml
//	venueboxd -demo     # simulated devices and tickets, no broker, state in a temporary folder
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

	"venuebox/cmd/internal/box"
	"venuebox/cmd/internal/config"
	"venuebox/cmd/internal/version"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("venueboxd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfgPath := fs.String("config", "", "box configuration `file` (YAML)")
	demo := fs.Bool("demo", false, "run with simulated devices and demo tickets, no broker, state in a temporary folder")
	listen := fs.String("listen", "127.0.0.1:8080", "with -demo: where to serve the kiosk `address`")
	verbose := fs.Bool("v", false, "log debug messages")
	showVersion := fs.Bool("version", false, "print the version and exit")
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "usage: venueboxd -config FILE | -demo | -version\n\nflags:")
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return 0
	}
	if err == nil && *showVersion {
		fmt.Fprintln(stdout, version.String("venueboxd"))
		return 0
	}
	if err == nil && (*cfgPath == "") == !*demo {
		err = errors.New("give -config FILE or -demo")
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err != nil {
		fmt.Fprintf(stderr, "venueboxd: %v (run 'venueboxd -h' for usage)\n", err)
		return 2
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *demo {
		err = box.Demo(ctx, *listen, log)
	} else {
		err = daemon(ctx, *cfgPath, log)
	}
	if err != nil {
		fmt.Fprintf(stderr, "venueboxd: %v\n", err)
		return 1
	}
	return 0
}

func daemon(ctx context.Context, path string, log *slog.Logger) error {
	cfg, err := config.LoadBox(path)
	if err != nil {
		return err
	}
	d, err := box.Start(cfg, log)
	if err != nil {
		return err
	}
	return d.Run(ctx)
}
