package evdev

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestEVIOCGRAB checks the constant against the kernel's _IOW macro
// (include/uapi/asm-generic/ioctl.h): direction write (1) in bits 30-31,
// the argument's size (an int, 4 bytes) in bits 16-29, the type 'E' in
// bits 8-15 and the number 0x90 in bits 0-7. The grab itself needs a real
// event device (or /dev/uinput, absent here), so it is not exercised.
func TestEVIOCGRAB(t *testing.T) {
	const iocWrite, sizeofInt = 1, 4
	want := iocWrite<<30 | sizeofInt<<16 | 'E'<<8 | 0x90
	if EVIOCGRAB != want {
		t.Fatalf("EVIOCGRAB = %#x, want %#x", EVIOCGRAB, want)
	}
}

func TestOpen_notAnEventDevice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "event0")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	if !errors.Is(err, unix.ENOTTY) {
		t.Fatalf("Open of a plain file: err = %v, want ENOTTY from the grab", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open of a missing node: err = %v", err)
	}
}
