// Package mqtttest runs a real Mosquitto broker for tests: on a free
// loopback port, with its configuration and state in the test's temporary
// directory, and with the queue limits raised so that the broker does not
// drop QoS 1 messages silently under load (Mosquitto's default
// max_queued_messages is 1000). A test can stop, kill and restart it on the
// same port. When the mosquitto binary is missing the test is skipped with
// a message saying so (scripts/test installs it).
//
// Provision and StartTLS run the broker as production does: with the
// certificates, TLS listener and ACL that scripts/provision makes.
package mqtttest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Options adjust the broker.
type Options struct {
	// Persistence keeps retained messages and sessions across a Restart.
	Persistence bool
	// Config is appended to the generated configuration: more listeners,
	// TLS settings, an ACL file, a bridge.
	Config string
	// NoDefaultListener leaves out the anonymous loopback listener, for a
	// broker that only listens where Config says.
	NoDefaultListener bool
	// Port, with NoDefaultListener, is the port of a listener that Config
	// opens: Start waits until it accepts connections, and the Broker's
	// Port and URL name it.
	Port int
}

// A Broker is a running mosquitto process owned by one test.
type Broker struct {
	// Port is the default listener's port (with NoDefaultListener,
	// Options.Port).
	Port int
	// URL is tcp://127.0.0.1:Port (tls:// from StartTLS).
	URL string
	// Dir holds the configuration, the log and the persistence file.
	Dir string

	t    testing.TB
	bin  string
	conf string
	log  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Binary returns the mosquitto executable's path, or "" when none is found.
func Binary() string {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mqtttest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start writes a configuration to a temporary directory, starts mosquitto
// and waits until its default listener accepts connections. The broker is
// killed when the test ends.
func Start(t testing.TB, opts *Options) *Broker {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	bin := Binary()
	if bin == "" {
		t.Skip("mqtttest: mosquitto binary not found (apt-get install mosquitto; scripts/test does it)")
	}
	dir := t.TempDir()
	b := &Broker{Dir: dir, t: t, bin: bin, conf: filepath.Join(dir, "mosquitto.conf"), log: filepath.Join(dir, "mosquitto.log")}
	var c bytes.Buffer
	fmt.Fprintf(&c, "user root\nper_listener_settings false\nmax_queued_messages 1000000\nmax_queued_bytes 0\nmax_inflight_messages 0\n")
	fmt.Fprintf(&c, "message_size_limit 0\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\nlog_timestamp true\n")
	if opts.Persistence {
		fmt.Fprintf(&c, "persistence true\npersistence_location %s/\nautosave_interval 1\n", dir)
	}
	if !opts.NoDefaultListener {
		b.Port = FreePort(t)
		b.URL = "tcp://127.0.0.1:" + strconv.Itoa(b.Port)
		fmt.Fprintf(&c, "listener %d 127.0.0.1\nallow_anonymous true\n", b.Port)
	} else if opts.Port != 0 {
		b.Port = opts.Port
		b.URL = "tcp://127.0.0.1:" + strconv.Itoa(b.Port)
	}
	c.WriteString(opts.Config)
	c.WriteString("\n")
	if err := os.WriteFile(b.conf, c.Bytes(), 0o600); err != nil {
		t.Fatalf("mqtttest: write config: %v", err)
	}
	t.Cleanup(func() {
		b.Kill()
		if t.Failed() {
			if log, err := os.ReadFile(b.log); err == nil {
				t.Logf("mosquitto log:\n%s", tail(log, 4000))
			}
		}
	})
	b.start()
	return b
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func (b *Broker) start() {
	b.t.Helper()
	logf, err := os.OpenFile(b.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		b.t.Fatalf("mqtttest: open log: %v", err)
	}
	cmd := exec.Command(b.bin, "-c", b.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		b.t.Fatalf("mqtttest: start mosquitto: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the exit status of a broker the test stopped is of no interest
		logf.Close()
		close(done)
	}()
	b.mu.Lock()
	b.cmd, b.done = cmd, done
	b.mu.Unlock()
	if b.Port == 0 {
		time.Sleep(200 * time.Millisecond)
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(b.Port), time.Second)
		if err == nil {
			conn.Close()
			return
		}
		select {
		case <-done:
			log, _ := os.ReadFile(b.log)
			b.t.Fatalf("mqtttest: mosquitto exited at start:\n%s", tail(log, 4000))
		default:
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("mqtttest: mosquitto not listening on %d: %v", b.Port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *Broker) signal(sig syscall.Signal) {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(sig) // it may already have exited
	deadline := time.Now().Add(10 * time.Second)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill() // last resort; nothing to do if it fails
		<-done
	}
	// Wait until the port is free again so that a restart can bind it.
	for b.Port != 0 && time.Now().Before(deadline) {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(b.Port))
		if err == nil {
			l.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop shuts the broker down cleanly (SIGTERM), saving its persistence.
func (b *Broker) Stop() { b.signal(syscall.SIGTERM) }

// Kill stops the broker with SIGKILL: in-flight and queued state is lost.
func (b *Broker) Kill() { b.signal(syscall.SIGKILL) }

// Restart stops the broker cleanly and starts it again on the same port.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	b.start()
}

// Start starts a stopped broker again on the same port and configuration.
func (b *Broker) Start() {
	b.t.Helper()
	b.start()
}

// Running reports whether the broker process is up.
func (b *Broker) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cmd != nil
}

// Provision runs the repository's scripts/provision with args and -out set
// to a new temporary directory, and returns that directory. The test is
// skipped when bash or openssl is missing, and fails if the script does.
func Provision(t testing.TB, args ...string) string {
	t.Helper()
	for _, tool := range []string{"bash", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("mqtttest: %s not found; scripts/provision needs it (apt-get install %s)", tool, tool)
		}
	}
	script, err := findUp(filepath.Join("scripts", "provision"))
	if err != nil {
		t.Fatalf("mqtttest: provision: %v", err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", append([]string{script, "-out", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("mqtttest: scripts/provision %v: %v\n%s", args, err, out)
	}
	return dir
}

// findUp finds rel in the working directory or the nearest parent that has
// it: tests run in their package's directory, below the repository's root.
func findUp(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%s not found above the working directory", rel)
		}
		dir = parent
	}
}

var listenerLine = regexp.MustCompile(`(?m)^listener[ \t]+[0-9]+.*$`)

// StartTLS starts a broker from a directory that scripts/provision wrote:
// its mosquitto.conf (the TLS listener with client certificates required,
// the certificates, the ACL) with that listener moved to a free loopback
// port, and without the anonymous listener. URL is tls://127.0.0.1:Port, a
// name the broker's certificate carries. opts may ask for Persistence and
// add Config; its listener fields are ignored.
func StartTLS(t testing.TB, dir string, opts *Options) *Broker {
	t.Helper()
	conf, err := os.ReadFile(filepath.Join(dir, "mosquitto.conf"))
	if err != nil {
		t.Fatalf("mqtttest: start tls: %v", err)
	}
	if n := len(listenerLine.FindAll(conf, -1)); n != 1 {
		t.Fatalf("mqtttest: start tls: %s/mosquitto.conf has %d listener lines, want 1", dir, n)
	}
	o := Options{NoDefaultListener: true, Port: FreePort(t)}
	if opts != nil {
		o.Persistence = opts.Persistence
		o.Config = opts.Config
	}
	conf = listenerLine.ReplaceAll(conf, []byte("listener "+strconv.Itoa(o.Port)+" 127.0.0.1"))
	o.Config = string(conf) + "\n" + o.Config
	b := Start(t, &o)
	b.URL = "tls://127.0.0.1:" + strconv.Itoa(b.Port)
	return b
}
