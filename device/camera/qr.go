package camera

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// Region is the part of each frame searched for a code, in fractions of the
// frame's width (X) and height (Y): {0, 0, 1, 1} is the whole frame.
type Region struct {
	X0, Y0, X1, Y1 float64
}

// valid reports whether r is a non-empty part of the frame.
func (r Region) valid() bool {
	return 0 <= r.X0 && r.X0 < r.X1 && r.X1 <= 1 && 0 <= r.Y0 && r.Y0 < r.Y1 && r.Y1 <= 1
}

// in returns the pixels of r in a w x h frame.
func (r Region) in(w, h int) image.Rectangle {
	return image.Rect(int(r.X0*float64(w)), int(r.Y0*float64(h)), int(r.X1*float64(w)), int(r.Y1*float64(h)))
}

// qrHints ask for QR codes only. They hold no TRY_HARDER key: gozxing turns
// TRY_HARDER on whenever the key is present, whatever its value, and it
// makes the finder scan every row instead of every third (several times the
// cost for a gain on tiny codes only).
var qrHints = map[gozxing.DecodeHintType]any{
	gozxing.DecodeHintType_POSSIBLE_FORMATS: []gozxing.BarcodeFormat{gozxing.BarcodeFormat_QR_CODE},
}

// qrDecoder finds a QR code in a luma plane. It keeps its buffers from one
// frame to the next; it is not safe for concurrent use.
type qrDecoder struct {
	roi    Region
	reader gozxing.Reader
	src    ySource
	bin    binarizer
}

func newQRDecoder(roi Region) *qrDecoder {
	d := &qrDecoder{roi: roi, reader: qrcode.NewQRCodeReader()}
	d.bin.src = &d.src
	return d
}

// errNoCode means the frame holds no code that could be read.
var errNoCode = errors.New("camera: no code in frame")

// decode returns the text of the QR code in the region of interest of a
// w x h plane laid out with stride, or errNoCode.
func (d *qrDecoder) decode(pix []byte, stride, w, h int) (string, error) {
	r := d.roi.in(w, h)
	d.src.set(pix[r.Min.Y*stride+r.Min.X:], stride, r.Dx(), r.Dy())
	bmp, err := gozxing.NewBinaryBitmap(&d.bin)
	if err != nil {
		return "", err
	}
	res, err := d.reader.Decode(bmp, qrHints)
	if err != nil {
		// Not found, or found but unreadable in this frame (checksum,
		// format): the next frame will tell.
		return "", errNoCode
	}
	return res.GetText(), nil
}

// luma decodes a JPEG frame and returns its luma plane: the Y of a colour
// JPEG (what camera encoders write, *image.YCbCr) or the samples of a gray
// one. Frames wider or taller than maxSide are refused before decoding, so
// a hostile header cannot make the decoder allocate gigabytes.
func luma(frame []byte, maxSide int) (pix []byte, stride, w, h int, err error) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(frame))
	if err != nil {
		return nil, 0, 0, 0, fmt.Errorf("camera: frame header: %w", err)
	}
	if cfg.Width > maxSide || cfg.Height > maxSide {
		return nil, 0, 0, 0, fmt.Errorf("camera: frame %dx%d larger than %d", cfg.Width, cfg.Height, maxSide)
	}
	img, err := jpeg.Decode(bytes.NewReader(frame))
	if err != nil {
		return nil, 0, 0, 0, fmt.Errorf("camera: frame: %w", err)
	}
	switch m := img.(type) {
	case *image.YCbCr:
		return m.Y, m.YStride, m.Rect.Dx(), m.Rect.Dy(), nil
	case *image.Gray:
		return m.Pix, m.Stride, m.Rect.Dx(), m.Rect.Dy(), nil
	}
	return nil, 0, 0, 0, fmt.Errorf("camera: %T frames are not supported", img)
}
