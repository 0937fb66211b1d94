package pn532

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"venuebox/device/ptytest"
	"venuebox/device/serialport"
)

// What the driver sends, written out from UM0701-02 §7, and the PN532's
// answers.
var (
	samConfiguration = []byte{0x00, 0x00, 0xFF, 0x05, 0xFB, 0xD4, 0x14, 0x01, 0x14, 0x01, 0x02, 0x00}
	samResponse      = []byte{0x00, 0x00, 0xFF, 0x02, 0xFE, 0xD5, 0x15, 0x16, 0x00}
	maxRetries       = []byte{0x00, 0x00, 0xFF, 0x06, 0xFA, 0xD4, 0x32, 0x05, 0xFF, 0x01, 0x02, 0xF3, 0x00}
	maxRetriesResp   = []byte{0x00, 0x00, 0xFF, 0x02, 0xFE, 0xD5, 0x33, 0xF8, 0x00}
	poll             = []byte{0x00, 0x00, 0xFF, 0x04, 0xFC, 0xD4, 0x4A, 0x01, 0x00, 0xE1, 0x00}
	noCard           = []byte{0x00, 0x00, 0xFF, 0x03, 0xFD, 0xD5, 0x4B, 0x00, 0xE0, 0x00}
	powerDown        = []byte{0x00, 0x00, 0xFF, 0x03, 0xFD, 0xD4, 0x16, 0x10, 0x06, 0x00}
	powerDownResp    = []byte{0x00, 0x00, 0xFF, 0x03, 0xFD, 0xD5, 0x17, 0x00, 0x14, 0x00}
)

const wait = 2 * time.Second // for any one exchange on the pty

// testOpts are DefaultOpts on a skipClock, with timeouts long enough for a
// loaded machine: the test, not the chip, is slow to answer there.
func testOpts() *Opts {
	return &Opts{Clock: &skipClock{}, AckTimeout: wait, ResponseTimeout: wait}
}

// card is the PN532's answer to a poll with a type A card of this UID
// (SENS_RES 00 04, SEL_RES 08: a MIFARE Classic 1K) and an optional ATS.
func card(uid []byte, ats ...byte) []byte {
	d := append([]byte{0x4B, 0x01, 0x01, 0x00, 0x04, 0x08, byte(len(uid))}, uid...)
	return appendFrame(nil, tfiPN532, append(d, ats...))
}

var (
	uidA = []byte{0xDE, 0xAD, 0xBE, 0xEF}
	uidB = []byte{0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66}
)

// skipClock is the system clock, except that a wait returns at once and
// moves the clock on by what it skipped: polls come back to back while
// the time between them passes as configured.
type skipClock struct{ skipped atomic.Int64 }

func (c *skipClock) Now() time.Time { return time.Now().Add(time.Duration(c.skipped.Load())) }

func (c *skipClock) After(d time.Duration) <-chan time.Time {
	c.skipped.Add(int64(d))
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch
}

// pn532 is the device end of the line: the test plays the chip.
type pn532 struct {
	*ptytest.Pair
	t *testing.T
}

// answer expects cmd, acknowledges it and sends resp.
func (p pn532) answer(cmd, resp []byte) {
	p.t.Helper()
	if p.Expect(cmd, wait) {
		p.Write(ackFrame)
		p.Write(resp)
	}
}

// start plugs in a PN532, opens its port as the box does and plays the
// chip through New.
func start(t *testing.T, opts *Opts) (pn532, *Dev) {
	t.Helper()
	p := pn532{ptytest.New(t), t}
	port, err := serialport.Open(p.Path, &serialport.Opts{Baud: 115200, ReadTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { port.Close() })
	if opts == nil {
		opts = testOpts()
	}
	var d *Dev
	done := async(func() (err error) { d, err = New(port, opts); return err })
	p.Expect(wakeUp, wait)
	p.answer(samConfiguration, samResponse)
	p.answer(maxRetries, maxRetriesResp)
	if err := <-done; err != nil {
		t.Fatalf("New: %v", err)
	}
	return p, d
}

func async(f func() error) <-chan error {
	c := make(chan error, 1)
	go func() { c <- f() }()
	return c
}

type result struct {
	uid string
	err error
}

// readCards calls ReadCard over and over until it fails; stop cancels it
// and returns every UID read and the error it ended with.
func readCards(t *testing.T, d *Dev) (stop func() ([]string, error)) {
	ctx, cancel := context.WithCancel(context.Background())
	c := make(chan result, 64)
	go func() {
		defer close(c)
		for {
			uid, err := d.ReadCard(ctx)
			c <- result{uid, err}
			if err != nil {
				return
			}
		}
	}()
	stop = func() (uids []string, err error) {
		cancel()
		for r := range c {
			if r.err != nil {
				err = r.err
				continue
			}
			uids = append(uids, r.uid)
		}
		return uids, err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func TestNew_firmwareVersion(t *testing.T) {
	p, d := start(t, nil)
	if s := d.String(); !strings.HasPrefix(s, "pn532{") || !strings.Contains(s, "tty") {
		t.Errorf("String() = %q", s)
	}
	var fw Firmware
	done := async(func() (err error) { fw, err = d.FirmwareVersion(context.Background()); return err })
	p.answer(getFirmwareVersion, firmwareResponse)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if want := (Firmware{IC: 0x32, Ver: 1, Rev: 6, Support: 7}); fw != want {
		t.Errorf("firmware %+v, want %+v", fw, want)
	}
	if got, want := fw.String(), "PN532 v1.6 (14443A 14443B 18092)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestNew_silent(t *testing.T) {
	p := ptytest.New(t)
	port, err := serialport.Open(p.Path, &serialport.Opts{Baud: 115200, ReadTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	begin := time.Now()
	_, err = New(port, &Opts{AckTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrNoAck) {
		t.Fatalf("New with nobody answering: %v, want ErrNoAck", err)
	}
	if d := time.Since(begin); d > 10*time.Second { // a bound against hanging, not a speed test
		t.Errorf("took %v", d)
	}
}

func TestReadCard_oneUIDPerTap(t *testing.T) {
	p, d := start(t, nil)
	stop := readCards(t, d)
	// One poll every 100 ms of the clock, a gap of 1 s: A is tapped,
	// rests, slips out of the field for two polls (same tap), is taken
	// away for twelve polls and tapped again; then B is tapped.
	for _, c := range "-AAA--AA------------AAB" {
		switch c {
		case '-':
			p.answer(poll, noCard)
		case 'A':
			p.answer(poll, card(uidA))
		case 'B':
			p.answer(poll, card(uidB))
		}
	}
	p.Expect(poll, wait) // the last answer has been taken in
	uids, err := stop()
	if want := []string{"DEADBEEF", "DEADBEEF", "04112233445566"}; !slices.Equal(uids, want) {
		t.Errorf("read %q, want %q", uids, want)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("ended with %v", err)
	}
}

func TestReadCard_garbageAndBadChecksums(t *testing.T) {
	p, d := start(t, nil)
	stop := readCards(t, d)
	badDCS := card(uidA)
	badDCS[len(badDCS)-2]++
	badLCS := card(uidA)
	badLCS[4]++

	p.answer(poll, []byte{0x55, 0xAA, 0x01, 0xFF, 0x00, 0x33})
	p.Write(badDCS)
	p.Expect(nackFrame, wait)
	p.Write(badLCS)
	p.Expect(nackFrame, wait)
	p.Write(append([]byte{0xFE, 0x01, 0x42}, card(uidA)...))

	// Garbage and a stale response before the ACK are skipped too.
	p.Expect(poll, wait)
	p.Write([]byte{0x13, 0x37})
	p.Write(firmwareResponse)
	p.Write(ackFrame)
	p.Write(card(uidB))
	p.Expect(poll, wait)
	uids, _ := stop()
	if want := []string{"DEADBEEF", "04112233445566"}; !slices.Equal(uids, want) {
		t.Errorf("read %q, want %q", uids, want)
	}
}

func TestFirmwareVersion_errors(t *testing.T) {
	p, d := start(t, nil)
	ctx := context.Background()
	fw := func() <-chan error {
		return async(func() error { _, err := d.FirmwareVersion(ctx); return err })
	}

	done := fw()
	p.answer(getFirmwareVersion, errorFrameBytes)
	if err := <-done; !errors.Is(err, ErrSyntax) {
		t.Errorf("after an error frame: %v, want ErrSyntax", err)
	}

	bad := bytes.Clone(firmwareResponse)
	bad[len(bad)-2]++
	done = fw()
	p.answer(getFirmwareVersion, bad)
	for range DefaultOpts.Retries {
		p.Expect(nackFrame, wait)
		p.Write(bad)
	}
	if err := <-done; !errors.Is(err, ErrCorrupt) {
		t.Errorf("after %d bad frames: %v, want ErrCorrupt", DefaultOpts.Retries+1, err)
	}

	done = fw()
	p.answer(getFirmwareVersion, firmwareResponse)
	if err := <-done; err != nil {
		t.Errorf("a good answer after the bad ones: %v", err)
	}
}

func TestReadCard_extendedFrame(t *testing.T) {
	p, d := start(t, nil)
	stop := readCards(t, d)
	ats := append([]byte{0xFA}, bytes.Repeat([]byte{0x80}, 249)...)
	resp := card(uidB, ats...)
	if resp[3] != 0xFF || resp[4] != 0xFF {
		t.Fatalf("test frame is not extended: % X", resp[:8])
	}
	p.answer(poll, resp)
	p.Expect(poll, wait)
	if uids, _ := stop(); !slices.Equal(uids, []string{"04112233445566"}) {
		t.Errorf("read %q", uids)
	}
}

func TestReadCard_cancelAborts(t *testing.T) {
	p, d := start(t, nil)
	stop := readCards(t, d)
	p.Expect(poll, wait)
	p.Write(ackFrame) // and no response: the PN532 is still looking
	uids, err := stop()
	if len(uids) != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("ReadCard = %q, %v; want context.Canceled", uids, err)
	}
	p.Expect(ackFrame, wait) // the host's ACK aborts the command
}

func TestReadCard_unplugged(t *testing.T) {
	o := testOpts()
	o.Clock = nil // the system clock: polls 20 ms apart
	o.Interval = 20 * time.Millisecond
	p, d := start(t, o)
	c := make(chan error, 1)
	go func() {
		_, err := d.ReadCard(context.Background())
		c <- err
	}()
	p.answer(poll, noCard)
	p.Expect(poll, wait)
	p.Unplug()
	select {
	case err := <-c:
		if err == nil || errors.Is(err, ErrNoAck) {
			t.Errorf("ReadCard on an unplugged port: %v, want the port's error", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("ReadCard still blocked 2 s after the unplug")
	}
}

func TestHalt(t *testing.T) {
	p, d := start(t, nil)
	done := async(d.Halt)
	p.answer(powerDown, powerDownResp)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Asleep now: the next command wakes it first.
	done = async(func() error { _, err := d.FirmwareVersion(context.Background()); return err })
	p.Expect(wakeUp, wait)
	p.answer(getFirmwareVersion, firmwareResponse)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestReadCard_garbageFlood sends a flood of noise where the ACK belongs:
// the driver works through it in bounded memory, then reads the card.
func TestReadCard_garbageFlood(t *testing.T) {
	const size = 1 << 20
	o := testOpts()
	o.AckTimeout = 10 * time.Second
	p, d := start(t, o)
	noise := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	stop := readCards(t, d)
	p.Expect(poll, wait)
	p.Write(noise)
	p.Write(ackFrame)
	p.Write(card(uidA))
	p.Expect(poll, 10*time.Second)
	runtime.ReadMemStats(&after)
	if uids, _ := stop(); !slices.Equal(uids, []string{"DEADBEEF"}) {
		t.Errorf("read %q", uids)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > size/8 {
		t.Errorf("allocated %d bytes reading %d bytes of noise", n, size)
	}
}
