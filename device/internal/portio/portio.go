// Package portio holds the read step the device drivers share: one read from
// a port that returns within a bounded time, so a driver's loop can observe
// its context and its own deadlines.
package portio

import (
	"context"
	"errors"
	"io"
	"os"
	"time"
)

// Poll is how long one read waits on a port that accepts read deadlines.
const Poll = 100 * time.Millisecond

type deadliner interface {
	SetReadDeadline(t time.Time) error
}

// Read does one read from r after checking ctx. When r accepts read deadlines
// (an *os.File on a pipe, a pty or an evdev node) the read is bounded by Poll;
// a serialport.Port bounds its own reads. A read that timed out returns an
// error for which IsTimeout holds. Once ctx has ended, Read returns ctx.Err(),
// for which IsTimeout does not hold, so a loop that retries on timeouts stops.
func Read(ctx context.Context, r io.Reader, b []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if d, ok := r.(deadliner); ok {
		if err := d.SetReadDeadline(time.Now().Add(Poll)); err != nil && !errors.Is(err, os.ErrNoDeadline) {
			return 0, err
		}
	}
	return r.Read(b)
}

// IsTimeout reports whether err means only that no byte arrived in time.
//
// A context's end is not a read timeout, although context.DeadlineExceeded
// has a Timeout method that reports true: a driver that retried on it would
// spin forever once its context's deadline passed.
func IsTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// Name returns what r says it is (a serialport.Port or *os.File gives its
// device name), or fallback.
func Name(r any, fallback string) string {
	switch v := r.(type) {
	case interface{ Name() string }:
		return v.Name()
	case interface{ String() string }:
		return v.String()
	}
	return fallback
}
