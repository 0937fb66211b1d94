package evdev

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// EVIOCGRAB is the ioctl that grabs an event device for one open file, so no
// other reader (the console, X, Wayland, the kiosk browser) gets its events:
// _IOW('E', 0x90, int) in include/uapi/linux/input.h.
const EVIOCGRAB = 0x40044590

// Node is an evdev device file opened and grabbed by Open.
type Node struct {
	f *os.File
}

// Open opens an event device (prefer the stable /dev/input/by-id/*-event-kbd
// names udev makes) and grabs it, so what the scanner types never reaches the
// screen. Close releases the grab and the file.
func Open(path string) (*Node, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("evdev: open: %w", err)
	}
	n := &Node{f: f}
	if err := n.grab(1); err != nil {
		f.Close()
		return nil, fmt.Errorf("evdev: grab %s: %w", path, err)
	}
	return n, nil
}

func (n *Node) grab(on int) error {
	rc, err := n.f.SyscallConn()
	if err != nil {
		return err
	}
	var ierr error
	if err := rc.Control(func(fd uintptr) { ierr = unix.IoctlSetInt(int(fd), EVIOCGRAB, on) }); err != nil {
		return err
	}
	return ierr
}

// Read reads whole events; the kernel never splits one.
func (n *Node) Read(p []byte) (int, error) { return n.f.Read(p) }

// SetReadDeadline bounds the next Read, so a Scan can notice its context.
func (n *Node) SetReadDeadline(t time.Time) error { return n.f.SetReadDeadline(t) }

// Name returns the path the node was opened by.
func (n *Node) Name() string { return n.f.Name() }

// Release gives up the grab: the device's keys reach other readers again.
func (n *Node) Release() error {
	if err := n.grab(0); err != nil {
		return fmt.Errorf("evdev: release %s: %w", n.f.Name(), err)
	}
	return nil
}

// Close closes the file, which releases the grab: the kernel ungrabs an
// event device when the file that grabbed it is released (evdev_release in
// drivers/input/evdev.c).
func (n *Node) Close() error {
	if err := n.f.Close(); err != nil {
		return fmt.Errorf("evdev: close: %w", err)
	}
	return nil
}
