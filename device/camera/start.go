package camera

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"venuebox/device/clock"
)

// Start runs the camera command argv (rpicam-vid or ffmpeg writing MJPEG to
// its standard output) and returns a scanner of its output. The command runs
// in its own process group, which Halt, or the end of ctx, kills: a shell
// wrapper's children go with it. What the command writes to its standard
// error is kept, the last 2 KiB, for the error Scan returns when the stream
// ends. A nil opts means DefaultOpts.
func Start(ctx context.Context, argv []string, opts *Opts) (*Dev, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("camera: start: no command")
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("camera: start: %w", err)
	}
	d, err := newDev(pr, filepath.Base(argv[0]), opts)
	if err != nil {
		pr.Close()
		pw.Close()
		return nil, err
	}
	p := &process{out: pr, done: make(chan struct{}), stderr: &tail{max: 2 << 10}}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout = pw // a file, so Wait does not close the reading end under Scan
	cmd.Stderr = p.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	cmd.WaitDelay = time.Second // a child holding stderr open does not stall Wait
	p.cmd = cmd
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("camera: start: %w", err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	// The child has its copy; with ours closed, its exit ends the stream.
	if err := pw.Close(); err != nil {
		// The start failed, and that is the error to report; stop's own
		// would say less.
		p.stop()
		return nil, fmt.Errorf("camera: start: %w", err)
	}
	d.proc = p
	return d, nil
}

// process is a command Start ran.
type process struct {
	cmd     *exec.Cmd
	out     *os.File
	stderr  *tail
	done    chan struct{} // closed once Wait has returned
	err     error         // what Wait returned, once done is closed
	once    sync.Once
	stopErr error
}

// killGroup kills the process group the command leads.
func killGroup(pid int) error {
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// stop kills the command, waits for it and closes the stream, once.
func (p *process) stop() error {
	p.once.Do(func() {
		if err := killGroup(p.cmd.Process.Pid); err != nil {
			p.stopErr = fmt.Errorf("camera: halt: %w", err)
		}
		<-p.done
		if err := p.out.Close(); err != nil && p.stopErr == nil {
			p.stopErr = fmt.Errorf("camera: halt: %w", err)
		}
	})
	return p.stopErr
}

// exit describes how the command ended, for the error of a stream that
// ended: it waits up to a second for the command to exit.
func (p *process) exit(ctx context.Context, clk clock.Clock) string {
	select {
	case <-p.done:
	case <-ctx.Done():
		return ""
	case <-clk.After(time.Second):
		return fmt.Sprintf(" (%s still running)", filepath.Base(p.cmd.Path))
	}
	status := "exited"
	if p.err != nil {
		status = p.err.Error()
	}
	s := fmt.Sprintf(" (%s: %s)", filepath.Base(p.cmd.Path), status)
	if msg := p.stderr.String(); msg != "" {
		s += ": " + msg
	}
	return s
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

// String returns what was kept, trimmed, on one line.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(strings.Fields(string(t.b)), " ")
}
