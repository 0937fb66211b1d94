// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)): a daemon started with Type=notify sends "READY=1" once it
// serves, and one started with WatchdogSec= sends "WATCHDOG=1" more often
// than that, or systemd kills and restarts it. A message is one datagram on
// the unix socket named by $NOTIFY_SOCKET ("@" at its start meaning the
// abstract namespace, which Go's net package also understands).
//
// It is a few lines, so it is written here rather than imported
// (github.com/coreos/go-systemd/v22/daemon does the same).
package sdnotify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"
)

// Common states.
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
	Watchdog = "WATCHDOG=1"
)

// A Notifier sends states to systemd. The zero Notifier, for a daemon
// not started by systemd, sends nothing.
type Notifier struct {
	socket string
}

// FromEnv returns the notifier $NOTIFY_SOCKET names.
func FromEnv() Notifier { return Notifier{socket: os.Getenv("NOTIFY_SOCKET")} }

// Enabled reports whether there is a socket to notify.
func (n Notifier) Enabled() bool { return n.socket != "" }

// Notify sends state, e.g. Ready or "STATUS=serving", as one datagram. It
// does nothing without a socket.
func (n Notifier) Notify(state string) error {
	if n.socket == "" {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.socket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	return nil
}

// WatchdogInterval returns the watchdog timeout systemd set for this
// process ($WATCHDOG_USEC, when $WATCHDOG_PID is unset or this process),
// or 0 when there is none.
func WatchdogInterval() (time.Duration, error) {
	usec := os.Getenv("WATCHDOG_USEC")
	if usec == "" {
		return 0, nil
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0, nil // meant for another process
	}
	n, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("sdnotify: bad WATCHDOG_USEC %q", usec)
	}
	return time.Duration(n) * time.Microsecond, nil
}

// RunWatchdog pings the watchdog every timeout/2 while healthy says the
// daemon is sound, until ctx ends. healthy gets a context that ends after
// timeout/4, so a check that hangs costs one ping, not the process; while
// it fails no ping is sent, and systemd restarts the daemon once timeout
// passes without one. send is Notifier.Notify in production.
func RunWatchdog(ctx context.Context, timeout time.Duration, healthy func(context.Context) error, send func(string) error, log *slog.Logger) {
	if timeout <= 0 {
		return
	}
	tick := time.NewTicker(timeout / 2)
	defer tick.Stop()
	failing := false
	for {
		cctx, cancel := context.WithTimeout(ctx, timeout/4)
		err := healthy(cctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				log.Error("unhealthy: watchdog pings stop; systemd restarts the daemon unless this clears", "err", err, "within", timeout)
			}
			failing = true
		default:
			if failing {
				log.Warn("healthy again: watchdog pings resume")
			}
			failing = false
			if err := send(Watchdog); err != nil && !errors.Is(err, context.Canceled) {
				log.Warn("watchdog ping not sent", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
