package camera

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"venuebox/device"
)

// manualClock stands still until the test moves it.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// The test frames, drawn once: 640x480, a code in the centre (A, B, C), and
// a scene without a code.
var (
	testFramesOnce      sync.Once
	codeA, codeB, codeC []byte
	noCode              []byte
	textA, textB, textC string
)

func testFrames(t *testing.T) {
	t.Helper()
	testFramesOnce.Do(func() {
		c, n := frames(t, 640, 480, 3, true), frames(t, 640, 480, 1, false)
		codeA, codeB, codeC, noCode = c[0].jpeg, c[1].jpeg, c[2].jpeg, n[0].jpeg
		textA, textB, textC = c[0].code, c[1].code, c[2].code
	})
	if codeA == nil {
		t.Fatal("test frames not drawn")
	}
}

// pipe returns a Dev reading the read end of a pipe, and the write end.
func pipe(t *testing.T, o *Opts) (*Dev, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	d, err := New(r, o)
	if err != nil {
		t.Fatal(err)
	}
	return d, w
}

// send writes parts from a goroutine, since a pipe holds only 64 KiB, and
// then closes w when closeAfter is set.
func send(t *testing.T, w *os.File, closeAfter bool, parts ...[]byte) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, p := range parts {
			if _, err := w.Write(p); err != nil {
				t.Errorf("write: %v", err)
				return
			}
		}
		if closeAfter {
			w.Close()
		}
	}()
	t.Cleanup(wg.Wait)
}

func repeat(frame []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = frame
	}
	return out
}

func scan(t *testing.T, d *Dev) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return d.Scan(ctx)
}

func wantCode(t *testing.T, d *Dev, want string) {
	t.Helper()
	if got, err := scan(t, d); err != nil || got != want {
		t.Fatalf("Scan = %q, %v; want %q", got, err, want)
	}
}

func TestScan_oneReportPerCode(t *testing.T) {
	testFrames(t)
	clk := &manualClock{t: time.Unix(1_700_000_000, 0)}
	d, w := pipe(t, &Opts{Clock: clk})
	if got := d.String(); got != "camera{|0}" {
		t.Errorf("String() = %q", got)
	}
	// 30 frames of A, then B: had A been reported twice, B would not be next.
	send(t, w, false, append(repeat(codeA, 30), codeB)...)
	wantCode(t, d, textA)
	wantCode(t, d, textB)
	// Seen again just within the gap, A is still the same showing...
	clk.advance(DefaultOpts.Gap - time.Millisecond)
	send(t, w, false, codeA, noCode, codeA, codeC)
	wantCode(t, d, textC)
	// ...and after a gap out of sight, a new one.
	clk.advance(DefaultOpts.Gap)
	send(t, w, false, codeA)
	wantCode(t, d, textA)
}

func TestScan_noCode(t *testing.T) {
	testFrames(t)
	d, w := pipe(t, nil)
	send(t, w, true, repeat(noCode, 5)...)
	got, err := scan(t, d)
	if !errors.Is(err, io.EOF) || got != "" {
		t.Fatalf("frames without a code: Scan = %q, %v; want nothing, then EOF", got, err)
	}
}

func TestScan_resync(t *testing.T) {
	testFrames(t)
	d, w := pipe(t, nil)
	send(t, w, true,
		[]byte("rpicam-vid banner\xFF\x00\xFF"), codeA,
		bytes.Repeat([]byte{0xFF, 0x00, 0x42}, 1000),
		codeB[:len(codeB)/2],     // cut short: the camera restarted
		tinyJPEG(0x55),           // a frame in form, but no JPEG image
		[]byte{0xFF, 0xD8, 0x00}, // an SOI and then nonsense
		codeC)
	wantCode(t, d, textA)
	wantCode(t, d, textC)
	if _, err := scan(t, d); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last frame: err = %v, want EOF", err)
	}
}

// big returns frame with a comment segment added that makes it n bytes
// longer (to within a segment): a valid JPEG over any cap below its size.
func big(frame []byte, n int) []byte {
	out := append([]byte{}, frame[:2]...)
	for ; n > 0; n -= 60000 {
		out = append(out, seg(0xFE, bytes.Repeat([]byte("x"), 60000))...)
	}
	return append(out, frame[2:]...)
}

func TestScan_oversizedDropped(t *testing.T) {
	testFrames(t)
	limit := max(len(codeA), len(codeB)) + 1000
	d, w := pipe(t, &Opts{MaxFrame: limit})
	send(t, w, true, big(codeA, 4<<20), codeB)
	wantCode(t, d, textB)
	if c := cap(d.f.buf); c > limit {
		t.Errorf("frame buffer grew to %d bytes, over the %d cap", c, limit)
	}
}

func TestScan_unreadableOnce(t *testing.T) {
	testFrames(t)
	bell := jpegFrame(t, scene(t, 640, 480, "VB1.BAD\aBELL", codeSide(640, 480), 7, 9))
	d, w := pipe(t, nil)
	send(t, w, true, append(repeat(bell, 5), codeA)...)
	if got, err := scan(t, d); !errors.Is(err, device.ErrUnreadable) || got != "" {
		t.Fatalf("a code with a BEL: Scan = %q, %v; want unreadable", got, err)
	} else if strings.Contains(err.Error(), "BELL") {
		t.Errorf("the error quotes the code: %v", err)
	}
	wantCode(t, d, textA)
}

func TestScan_contextEnds(t *testing.T) {
	d, _ := pipe(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if _, err := d.Scan(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

func TestNew_rejects(t *testing.T) {
	for _, o := range []Opts{
		{ROI: Region{0.5, 0, 0.4, 1}},
		{ROI: Region{-0.1, 0, 1, 1}},
		{ROI: Region{0, 0, 1, 1.5}},
		{Gap: -time.Second},
		{MaxFrame: -1},
		{MaxLen: -1},
	} {
		if _, err := New(strings.NewReader(""), &o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		s  string
		ok bool
	}{
		{"VB1.ABC", true}, {"张三", true}, {"", false}, {strings.Repeat("A", 11), false},
		{"A\x00B", false}, {"A\tB", false}, {"A\xffB", false}, {"A\u0085B", false},
	} {
		err := validate(tt.s, 10)
		if (err == nil) != tt.ok || err != nil && !errors.Is(err, device.ErrUnreadable) {
			t.Errorf("validate(%q) = %v", tt.s, err)
		}
	}
}

func TestRecent_bounded(t *testing.T) {
	r := recent{gap: time.Second}
	t0 := time.Unix(0, 0)
	for i := range 3 * maxRecent {
		if !r.show(string(rune('a'+i)), t0.Add(time.Duration(i)*time.Millisecond)) {
			t.Fatalf("code %d not news", i)
		}
	}
	if len(r.codes) != maxRecent {
		t.Fatalf("remembers %d codes, want %d", len(r.codes), maxRecent)
	}
	// The newest are still remembered; the oldest were forgotten.
	last := string(rune('a' + 3*maxRecent - 1))
	if r.show(last, t0.Add(time.Second/2)) {
		t.Error("the last code seen was news again within the gap")
	}
	if !r.show("a", t0.Add(time.Second/2)) {
		t.Error("the first code, evicted, was not news")
	}
}

// writeFrames writes parts to a file for a command to cat.
func writeFrames(t *testing.T, parts ...[]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "frames.mjpeg")
	if err := os.WriteFile(path, bytes.Join(parts, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStart_streamEnds(t *testing.T) {
	testFrames(t)
	path := writeFrames(t, codeA, codeA)
	d, err := Start(context.Background(), []string{"sh", "-c", "cat " + path + "; echo camera closed >&2; exit 3"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Halt() })
	if got := d.String(); got != "camera{sh}" {
		t.Errorf("String() = %q", got)
	}
	wantCode(t, d, textA)
	_, err = scan(t, d)
	if err == nil || errors.Is(err, device.ErrUnreadable) || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "camera closed") {
		t.Fatalf("Scan after the command ended: err = %v; want its exit status and stderr", err)
	}
}

func TestStart_haltKills(t *testing.T) {
	testFrames(t)
	path := writeFrames(t, codeA)
	// sleep runs as the shell's child: Halt must kill the whole group.
	d, err := Start(context.Background(), []string{"sh", "-c", "cat " + path + "; sleep 60; echo"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, d, textA)
	done := make(chan error, 1)
	go func() { _, err := scan(t, d); done <- err }()
	start := time.Now()
	if err := d.Halt(); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	if err := <-done; err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Scan during Halt: err = %v, want the stream gone", err)
	}
	if el := time.Since(start); el > 15*time.Second { // a bound against hanging, not a speed test
		t.Errorf("Halt took %v", el)
	}
	if err := d.Halt(); err != nil {
		t.Errorf("second Halt: %v", err)
	}
}

func TestStart_contextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	d, err := Start(ctx, []string{"sleep", "60"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Halt() })
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := d.Scan(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want canceled", err)
	}
}

func TestStart_rejects(t *testing.T) {
	if _, err := Start(context.Background(), nil, nil); err == nil {
		t.Error("Start with no command succeeded")
	}
	if _, err := Start(context.Background(), []string{filepath.Join(t.TempDir(), "rpicam-vid")}, nil); err == nil {
		t.Error("Start of a missing command succeeded")
	}
	if _, err := Start(context.Background(), []string{"cat"}, &Opts{MaxFrame: -1}); err == nil {
		t.Error("Start with bad options succeeded")
	}
}
