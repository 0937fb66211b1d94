package portio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"
)

func TestIsTimeout(t *testing.T) {
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"file deadline", &os.PathError{Op: "read", Path: "/dev/pts/3", Err: os.ErrDeadlineExceeded}, true},
		{"wrapped deadline", fmt.Errorf("serialport: read timeout: %w", os.ErrDeadlineExceeded), true},
		{"eof", io.EOF, false},
		{"other", errors.New("input/output error"), false},
		// context.DeadlineExceeded has Timeout() == true; it must not count,
		// or a driver's retry loop spins once its context has expired.
		{"context deadline", context.DeadlineExceeded, false},
		{"expired context", expired.Err(), false},
		{"wrapped context deadline", fmt.Errorf("read: %w", context.DeadlineExceeded), false},
		{"context canceled", context.Canceled, false},
	}
	for _, tt := range tests {
		if got := IsTimeout(tt.err); got != tt.want {
			t.Errorf("%s: IsTimeout(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// neverReader fails the test if read: Read must check ctx first.
type neverReader struct{ t *testing.T }

func (r neverReader) Read([]byte) (int, error) {
	r.t.Error("Read called after ctx ended")
	return 0, io.EOF
}

func TestRead_contextEnded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n, err := Read(ctx, neverReader{t}, make([]byte, 8))
	if n != 0 || !errors.Is(err, context.Canceled) || IsTimeout(err) {
		t.Fatalf("Read = %d, %v; want 0, context.Canceled (not a timeout)", n, err)
	}
}

func TestRead_pipeDeadline(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	_, err = Read(context.Background(), r, make([]byte, 8))
	if !IsTimeout(err) {
		t.Fatalf("Read of a silent pipe: err = %v, want a timeout", err)
	}
	if _, err := w.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	n, err := Read(context.Background(), r, b)
	if err != nil || string(b[:n]) != "hi" {
		t.Fatalf("Read = %q, %v", b[:n], err)
	}
}
