package sdnotify

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// listen opens a unixgram socket like systemd's and returns its path and
// a function that reads one datagram.
func listen(t *testing.T) (string, func() string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return path, func() string {
		buf := make([]byte, 256)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
}

func TestNotify_overTheSocket(t *testing.T) {
	path, read := listen(t)
	t.Setenv("NOTIFY_SOCKET", path)
	n := FromEnv()
	if !n.Enabled() {
		t.Fatal("not enabled with NOTIFY_SOCKET set")
	}
	for _, state := range []string{Ready, "STATUS=serving", Watchdog} {
		if err := n.Notify(state); err != nil {
			t.Fatal(err)
		}
		if got := read(); got != state {
			t.Errorf("got %q, want %q", got, state)
		}
	}
}

func TestNotify_withoutSocketDoesNothing(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := FromEnv().Notify(Ready); err != nil {
		t.Error(err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
		bad       bool
	}{
		{"", "", 0, false},
		{"30000000", "", 30 * time.Second, false},
		{"30000000", strconv.Itoa(1 << 30), 0, false}, // another process's
		{"30000000", "self", 30 * time.Second, false},
		{"abc", "", 0, true},
		{"0", "", 0, true},
	} {
		pid := tc.pid
		if pid == "self" {
			pid = strconv.Itoa(os.Getpid())
		}
		t.Setenv("WATCHDOG_USEC", tc.usec)
		t.Setenv("WATCHDOG_PID", pid)
		got, err := WatchdogInterval()
		if got != tc.want || (err != nil) != tc.bad {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: %v, %v", tc.usec, pid, got, err)
		}
	}
}

// TestRunWatchdog_pingsOnlyWhileHealthy runs the loop on synctest's fake
// clock: pings every timeout/2 while healthy, none while the check fails
// or hangs, again once it passes.
func TestRunWatchdog_pingsOnlyWhileHealthy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 10 * time.Second
		var mu sync.Mutex
		var pings []time.Duration
		start := time.Now()
		send := func(s string) error {
			mu.Lock()
			defer mu.Unlock()
			if s != Watchdog {
				t.Errorf("sent %q", s)
			}
			pings = append(pings, time.Since(start))
			return nil
		}
		var state atomic.Int32 // 0 healthy, 1 failing, 2 hanging
		healthy := func(ctx context.Context) error {
			switch state.Load() {
			case 1:
				return errors.New("store wedged")
			case 2:
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		}
		count := func() int { mu.Lock(); defer mu.Unlock(); return len(pings) }
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			RunWatchdog(ctx, timeout, healthy, send, slog.New(slog.DiscardHandler))
			close(done)
		}()
		time.Sleep(timeout*2 + time.Second) // pings at 0, 5, 10, 15, 20 s
		if n := count(); n != 5 {
			t.Errorf("%d pings in 21 s while healthy, want 5", n)
		}
		state.Store(1)
		time.Sleep(timeout * 2)
		if n := count(); n != 5 {
			t.Errorf("%d pings while failing, want none since", n-5)
		}
		state.Store(2)
		time.Sleep(timeout * 2)
		if n := count(); n != 5 {
			t.Errorf("%d pings while the check hangs, want none since", n-5)
		}
		state.Store(0)
		time.Sleep(timeout)
		if n := count(); n < 6 {
			t.Errorf("no ping after the check passes again")
		}
		cancel()
		<-done
	})
}
