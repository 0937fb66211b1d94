// Package ptytest gives tests a real serial line: a Linux pseudo-terminal
// pair whose slave end the driver under test opens by name through
// device/serialport (tarm/serial), while the test plays the device on the
// master end, byte for byte. Both ends are in raw mode. The slave is reached
// through a stable symlink, as /dev/serial/by-id names a USB adapter, so
// Unplug and Plug can close and recreate the terminal under the same name.
package ptytest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Pair is a pseudo-terminal standing in for a serial device.
type Pair struct {
	// Path is the stable name of the slave end, for serialport.Open.
	Path string

	t      testing.TB
	mu     sync.Mutex
	master *os.File
	slave  *os.File
}

// New creates a plugged-in pair; it is closed when the test ends.
func New(t testing.TB) *Pair {
	t.Helper()
	p := &Pair{t: t, Path: filepath.Join(t.TempDir(), "tty")}
	p.Plug()
	t.Cleanup(p.Unplug)
	return p
}

// Plug creates a new pseudo-terminal and points Path at it.
func (p *Pair) Plug() {
	p.t.Helper()
	master, slave, err := open()
	if err != nil {
		p.t.Fatalf("ptytest: %v", err)
	}
	_ = os.Remove(p.Path) // absent after Unplug or on first Plug
	if err := os.Symlink(slave.Name(), p.Path); err != nil {
		p.t.Fatalf("ptytest: %v", err)
	}
	p.mu.Lock()
	p.master, p.slave = master, slave
	p.mu.Unlock()
}

// Unplug closes the pseudo-terminal, which hangs up every open slave end,
// and removes Path, as the kernel does when a USB serial adapter is pulled.
func (p *Pair) Unplug() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.master == nil {
		return
	}
	_ = os.Remove(p.Path) // best effort: the test may have removed it
	_ = p.master.Close()  // errors on close of a test pty change nothing
	_ = p.slave.Close()   // likewise
	p.master, p.slave = nil, nil
}

// Master returns the device's end of the line.
func (p *Pair) Master() *os.File {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.master
}

// Write sends b to the driver, as the device would.
func (p *Pair) Write(b []byte) {
	p.t.Helper()
	if _, err := p.Master().Write(b); err != nil {
		p.t.Errorf("ptytest: write: %v", err)
	}
}

// Read returns exactly n bytes the driver sent, or fails the test after d.
func (p *Pair) Read(n int, d time.Duration) []byte {
	p.t.Helper()
	b, err := ReadFull(p.Master(), n, d)
	if err != nil {
		p.t.Errorf("ptytest: %v (got % X)", err, b)
	}
	return b
}

// Expect reads len(want) bytes and fails the test unless they are want.
func (p *Pair) Expect(want []byte, d time.Duration) bool {
	p.t.Helper()
	got := p.Read(len(want), d)
	if !bytes.Equal(got, want) {
		p.t.Errorf("ptytest: driver sent % X, want % X", got, want)
		return false
	}
	return true
}

// ReadFull reads exactly n bytes from f within d.
func ReadFull(f *os.File, n int, d time.Duration) ([]byte, error) {
	if err := f.SetReadDeadline(time.Now().Add(d)); err != nil {
		return nil, fmt.Errorf("set deadline: %w", err)
	}
	defer f.SetReadDeadline(time.Time{}) //nolint:errcheck // clearing a deadline on a live pty does not fail
	b := make([]byte, n)
	got := 0
	for got < n {
		m, err := f.Read(b[got:])
		got += m
		if err != nil {
			return b[:got], fmt.Errorf("read %d of %d bytes: %w", got, n, err)
		}
	}
	return b, nil
}

func open() (master, slave *os.File, err error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	fail := func(err error) (*os.File, *os.File, error) {
		_ = unix.Close(fd) // already failing
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		return fail(fmt.Errorf("unlock pty: %w", err))
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		return fail(fmt.Errorf("pty number: %w", err))
	}
	if err := makeRaw(fd); err != nil {
		return fail(fmt.Errorf("raw master: %w", err))
	}
	name := fmt.Sprintf("/dev/pts/%d", n)
	sfd, err := unix.Open(name, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return fail(fmt.Errorf("open %s: %w", name, err))
	}
	if err := makeRaw(sfd); err != nil {
		_ = unix.Close(sfd) // already failing
		return fail(fmt.Errorf("raw slave: %w", err))
	}
	return os.NewFile(uintptr(fd), "/dev/ptmx"), os.NewFile(uintptr(sfd), name), nil
}

// makeRaw does what cfmakeraw(3) does.
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}
