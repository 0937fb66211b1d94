package camera

import (
	"bytes"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// benchFrames is how many different frames a benchmark cycles through.
const benchFrames = 8

// The decode benchmarks time one frame, code centred, its area a quarter of
// the frame's, rotated 7 degrees, in a noisy gradient, through:
//
//	box        the box's path from the luma plane: region of interest,
//	           in-place luminance source, reusing binarizer
//	box-jpeg   the same from the JPEG bytes: what each camera frame costs
//	box-idle   the box's path on a frame without a code (most frames)
//	box-full   the box's path on the whole frame, to part the ROI's gain
//	           from the binarizer's
//	planar     gozxing's NewPlanarYUVLuminanceSource and HybridBinarizer
//	           on the whole Y plane
//	naive      gozxing's NewBinaryBitmapFromImage on an image.Gray
//
// Each reports ms/frame and, on frames with a code, the share decoded
// (gozxing misses some of these frames when it searches the whole of a
// 1280x720 one). A wrong text fails the benchmark. scripts/bench-camera times zxing-cpp on the same
// luma planes (TestWriteBenchFrames) beside them.
func BenchmarkDecode640x480(b *testing.B)  { benchDecode(b, 640, 480) }
func BenchmarkDecode1280x720(b *testing.B) { benchDecode(b, 1280, 720) }

func benchDecode(b *testing.B, w, h int) {
	coded := frames(b, w, h, benchFrames, true)
	empty := frames(b, w, h, benchFrames, false)
	box := func(roi Region) func(f benchFrame) (string, error) {
		d := newQRDecoder(roi)
		return func(f benchFrame) (string, error) {
			return d.decode(f.luma.Pix, f.luma.Stride, w, h)
		}
	}
	boxJPEG := func() func(f benchFrame) (string, error) {
		d := newQRDecoder(DefaultOpts.ROI)
		return func(f benchFrame) (string, error) {
			pix, stride, w, h, err := luma(f.jpeg, DefaultOpts.MaxSide)
			if err != nil {
				return "", err
			}
			return d.decode(pix, stride, w, h)
		}
	}
	reader := qrcode.NewQRCodeReader()
	planar := func(f benchFrame) (string, error) {
		src, err := gozxing.NewPlanarYUVLuminanceSource(f.luma.Pix, f.luma.Stride, h, 0, 0, w, h, false)
		if err != nil {
			return "", err
		}
		bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(src))
		if err != nil {
			return "", err
		}
		res, err := reader.Decode(bmp, qrHints)
		if err != nil {
			return "", err
		}
		return res.GetText(), nil
	}
	naive := func(f benchFrame) (string, error) {
		bmp, err := gozxing.NewBinaryBitmapFromImage(f.luma)
		if err != nil {
			return "", err
		}
		res, err := reader.Decode(bmp, qrHints)
		if err != nil {
			return "", err
		}
		return res.GetText(), nil
	}
	for _, c := range []struct {
		name   string
		fs     []benchFrame
		decode func(benchFrame) (string, error)
	}{
		{"box", coded, box(DefaultOpts.ROI)},
		{"box-jpeg", coded, boxJPEG()},
		{"box-idle", empty, box(DefaultOpts.ROI)},
		{"box-full", coded, box(Region{0, 0, 1, 1})},
		{"planar", coded, planar},
		{"naive", coded, naive},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i, decoded := 0, 0
			start := time.Now()
			for b.Loop() {
				k := i % len(c.fs)
				f := c.fs[k]
				i++
				got, err := c.decode(f)
				switch {
				case err == nil && got != f.code:
					b.Fatalf("frame %d: decoded %q, want %q", k, got, f.code)
				case err == nil:
					decoded++
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(i), "ms/frame")
			if c.fs[0].code != "" {
				b.ReportMetric(float64(decoded)/float64(i), "decoded")
			}
		})
	}
}

// TestWriteBenchFrames writes the benchmarks' frames for other decoders to
// time (scripts/bench-camera): with CAMERA_BENCH_FRAMES=DIR it writes, per
// size, DIR/WxH/frame-N.pgm and DIR/WxH/idle-N.pgm (the luma planes the box
// decodes, with and without a code, as binary PGM), DIR/WxH/codes.txt (each
// frame's code, a line each) and DIR/WxH/roi.txt (the default region of
// interest in pixels: x0 y0 x1 y1).
func TestWriteBenchFrames(t *testing.T) {
	dir := os.Getenv("CAMERA_BENCH_FRAMES")
	if dir == "" {
		t.Skip("CAMERA_BENCH_FRAMES not set")
	}
	write := func(name string, data []byte) {
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pgm := func(g *image.Gray) []byte {
		var b bytes.Buffer
		fmt.Fprintf(&b, "P5\n%d %d\n255\n", g.Rect.Dx(), g.Rect.Dy())
		for y := range g.Rect.Dy() {
			b.Write(g.Pix[y*g.Stride:][:g.Rect.Dx()])
		}
		return b.Bytes()
	}
	for _, size := range [][2]int{{640, 480}, {1280, 720}} {
		w, h := size[0], size[1]
		sub := filepath.Join(dir, fmt.Sprintf("%dx%d", w, h))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		var codes bytes.Buffer
		for i, f := range frames(t, w, h, benchFrames, true) {
			write(filepath.Join(sub, fmt.Sprintf("frame-%02d.pgm", i)), pgm(f.luma))
			codes.WriteString(f.code + "\n")
		}
		for i, f := range frames(t, w, h, benchFrames, false) {
			write(filepath.Join(sub, fmt.Sprintf("idle-%02d.pgm", i)), pgm(f.luma))
		}
		write(filepath.Join(sub, "codes.txt"), codes.Bytes())
		r := DefaultOpts.ROI.in(w, h)
		write(filepath.Join(sub, "roi.txt"), fmt.Appendf(nil, "%d %d %d %d\n", r.Min.X, r.Min.Y, r.Max.X, r.Max.Y))
	}
}
