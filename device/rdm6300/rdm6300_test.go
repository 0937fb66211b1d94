package rdm6300

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"venuebox/device/ptytest"
	"venuebox/device/serialport"
)

var (
	tagA = [5]byte{0x62, 0xE3, 0x08, 0x6C, 0xED}
	tagB = [5]byte{0x01, 0x00, 0x07, 0x34, 0xE0}
)

// every is how often the module repeats a resting tag's frame.
const every = 60 * time.Millisecond

// start plugs in a module and opens its port at 9600 baud, as the box does.
func start(t *testing.T, opts *Opts) (*ptytest.Pair, *Dev) {
	t.Helper()
	p := ptytest.New(t)
	port, err := serialport.Open(p.Path, &serialport.Opts{Baud: 9600, ReadTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { port.Close() })
	d, err := New(port, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p, d
}

// reader calls ReadCard over and over until it fails.
type reader struct {
	t      *testing.T
	cancel context.CancelFunc
	c      chan result
}

type result struct {
	uid string
	err error
}

func readCards(t *testing.T, d *Dev) *reader {
	ctx, cancel := context.WithCancel(context.Background())
	r := &reader{t, cancel, make(chan result, 64)}
	go func() {
		defer close(r.c)
		for {
			uid, err := d.ReadCard(ctx)
			r.c <- result{uid, err}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { r.stop() })
	return r
}

// expect fails the test unless the next UID read is want.
func (r *reader) expect(want string) {
	r.t.Helper()
	select {
	case got := <-r.c:
		if got.uid != want || got.err != nil {
			r.t.Errorf("ReadCard = %q, %v; want %q", got.uid, got.err, want)
		}
	case <-time.After(2 * time.Second):
		r.t.Errorf("ReadCard: no %q within 2 s", want)
	}
}

// stop cancels ReadCard and returns the UIDs read since the last expect
// and the error it ended with.
func (r *reader) stop() (uids []string, err error) {
	r.cancel()
	for res := range r.c {
		if res.err != nil {
			err = res.err
			continue
		}
		uids = append(uids, res.uid)
	}
	return uids, err
}

// rest sends tag's frame n times, every 60 ms, as the module does while a
// tag rests on it.
func rest(p *ptytest.Pair, tag [5]byte, n int) {
	for i := range n {
		if i > 0 {
			time.Sleep(every)
		}
		p.Write(frameOf(tag))
	}
}

func TestReadCard_oneUIDPerTap(t *testing.T) {
	p, d := start(t, &Opts{Gap: 300 * time.Millisecond})
	if s := d.String(); !strings.HasPrefix(s, "rdm6300{") || !strings.Contains(s, "tty") {
		t.Errorf("String() = %q", s)
	}
	r := readCards(t, d)
	rest(p, tagA, 5)
	r.expect("62E3086CED")
	// Taken away for longer than the gap (a sleep never ends early).
	time.Sleep(400 * time.Millisecond)
	rest(p, tagA, 4)
	r.expect("62E3086CED")
	time.Sleep(every)
	rest(p, tagB, 3) // handed straight over: another tag counts at once
	r.expect("01000734E0")
	uids, err := r.stop()
	if len(uids) != 0 {
		t.Errorf("read %q more", uids)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("ended with %v", err)
	}
}

func TestReadCard_garbageAndBadFrames(t *testing.T) {
	p, d := start(t, nil)
	r := readCards(t, d)
	p.Write([]byte("\xff\x00noise\x03\x02\x02"))
	p.Write([]byte("\x0262E3086CED09\x03")) // bad checksum
	p.Write([]byte("\x0262E3086C"))         // cut short by the next frame
	p.Write([]byte("\x02" + "ZZZZZZZZZZZZ" + "\x03"))
	p.Write(frameOf(tagB))
	r.expect("01000734E0")
	if uids, _ := r.stop(); len(uids) != 0 {
		t.Errorf("read %q from bad frames", uids)
	}
}

func TestReadCard_garbageFlood(t *testing.T) {
	const size = 1 << 20
	p, d := start(t, nil)
	noise := make([]byte, size)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		p.Write(noise)
		p.Write(frameOf(tagA))
	}()
	uid, err := d.ReadCard(ctx)
	runtime.ReadMemStats(&after)
	if err != nil || uid != "62E3086CED" {
		t.Fatalf("ReadCard after the flood = %q, %v", uid, err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > size/8 {
		t.Errorf("allocated %d bytes reading %d bytes of noise", n, size)
	}
}

func TestReadCard_unplugged(t *testing.T) {
	p, d := start(t, nil)
	c := make(chan error, 1)
	go func() {
		_, err := d.ReadCard(context.Background())
		c <- err
	}()
	time.Sleep(50 * time.Millisecond)
	p.Unplug()
	select {
	case err := <-c:
		if err == nil {
			t.Error("ReadCard on an unplugged port returned no error")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("ReadCard still blocked 2 s after the unplug")
	}
}

func TestHalt(t *testing.T) {
	p, d := start(t, &Opts{Gap: time.Minute})
	p.Write(frameOf(tagA))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := d.ReadCard(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	// After Halt the same tag counts again, whatever the gap.
	p.Write(frameOf(tagA))
	if uid, err := d.ReadCard(ctx); err != nil || uid != "62E3086CED" {
		t.Fatalf("ReadCard after Halt = %q, %v", uid, err)
	}
}
