package camera

import (
	"bytes"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/makiuchi-d/gozxing/qrcode/decoder"
)

// ticketCode returns a code shaped like the box's signed tickets
// (cmd/internal/ticket: "VB1" and the RFC 9285 Base45 encoding of a 14-byte
// payload with zone and window and a 64-byte Ed25519 signature, 120
// characters, the longest Sign makes), drawn from seed. The ticket package
// is internal to cmd, so these tests cannot import it; codes of its shape
// and QR symbols drawn as its EncodePNG draws them stand in.
func ticketCode(seed uint64) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
	rng := rand.New(rand.NewPCG(seed, 2))
	b := []byte("VB1")
	for range 78 / 2 {
		v := rng.IntN(65536)
		b = append(b, alphabet[v%45], alphabet[v/45%45], alphabet[v/2025])
	}
	return string(b)
}

// symbol draws code as ticket.EncodePNG does: a QR code at error correction
// level M with the 4-module quiet zone, side pixels wide.
func symbol(t testing.TB, code string, side int) *gozxing.BitMatrix {
	t.Helper()
	hints := map[gozxing.EncodeHintType]any{gozxing.EncodeHintType_ERROR_CORRECTION: decoder.ErrorCorrectionLevel_M}
	m, err := qrcode.NewQRCodeWriter().Encode(code, gozxing.BarcodeFormat_QR_CODE, side, side, hints)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// scene draws a w x h gray frame: an uneven background with sensor noise
// and, when code is not empty, the code's QR symbol of side pixels
// (quiet zone included) centred, rotated by deg degrees, at the contrast
// of a phone screen seen by a camera.
func scene(t testing.TB, w, h int, code string, side int, deg float64, seed uint64) *image.Gray {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	g := image.NewGray(image.Rect(0, 0, w, h))
	var dark []bool // the symbol's modules, row-major
	qw, qh := 0, 0
	if code != "" {
		qr := symbol(t, code, side)
		qw, qh = qr.GetWidth(), qr.GetHeight()
		dark = make([]bool, qw*qh)
		for i := range dark {
			dark[i] = qr.Get(i%qw, i/qw)
		}
	}
	sin, cos := math.Sincos(deg * math.Pi / 180)
	cx, cy := float64(w)/2, float64(h)/2
	for y := range h {
		for x := range w {
			// Background: a gradient, as light falls across a gate.
			v := 90 + 60*x/w + 30*y/h
			if dark != nil {
				// Where (x, y) falls in the unrotated symbol (nearest
				// module: the JPEG encoder softens the edges).
				dx, dy := float64(x)-cx, float64(y)-cy
				sx := cos*dx + sin*dy + float64(qw)/2
				sy := -sin*dx + cos*dy + float64(qh)/2
				if sx >= 0 && sy >= 0 && int(sx) < qw && int(sy) < qh {
					v = 215
					if dark[int(sy)*qw+int(sx)] {
						v = 45
					}
				}
			}
			// Noise of standard deviation 12, near enough normal: the sum
			// of four uniform bytes (Irwin-Hall), centred and scaled.
			r := rng.Uint64()
			sum := int(r&0xFF) + int(r>>8&0xFF) + int(r>>16&0xFF) + int(r>>24&0xFF)
			v += (sum - 510) * 12 / 148
			g.Pix[y*g.Stride+x] = uint8(max(0, min(255, v)))
		}
	}
	return g
}

// jpegFrame encodes a gray scene as a camera's MJPEG encoder would: a
// colour JPEG (4:2:0), quality 80, whose chroma carries nothing.
func jpegFrame(t testing.TB, g *image.Gray) []byte {
	t.Helper()
	b := g.Bounds()
	img := image.NewYCbCr(b, image.YCbCrSubsampleRatio420)
	for y := 0; y < b.Dy(); y++ {
		copy(img.Y[y*img.YStride:y*img.YStride+b.Dx()], g.Pix[y*g.Stride:])
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 128, 128
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// benchFrame is one camera frame: its JPEG bytes, the luma plane a decoder
// gets from them, and the code drawn in it ("" for none).
type benchFrame struct {
	jpeg []byte
	luma *image.Gray
	code string
}

// codeSide is the side of a code whose area is a quarter of a w x h frame's.
func codeSide(w, h int) int { return int(math.Sqrt(float64(w*h) / 4)) }

// frames draws n frames of w x h, each with its own code and noise, the
// code centred, its area a quarter of the frame's, rotated by 7 degrees;
// with codes false, the same scenes without a code.
func frames(t testing.TB, w, h, n int, codes bool) []benchFrame {
	t.Helper()
	out := make([]benchFrame, n)
	for i := range out {
		code := ""
		if codes {
			code = ticketCode(uint64(i))
		}
		j := jpegFrame(t, scene(t, w, h, code, codeSide(w, h), 7, uint64(i)))
		img, err := jpeg.Decode(bytes.NewReader(j))
		if err != nil {
			t.Fatal(err)
		}
		y := img.(*image.YCbCr)
		out[i] = benchFrame{jpeg: j, code: code, luma: &image.Gray{Pix: y.Y, Stride: y.YStride, Rect: y.Rect}}
	}
	return out
}
