package ticket

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/makiuchi-d/gozxing/qrcode/decoder"
)

// MaxImageSide caps both sides of images that EncodePNG writes and the
// decoders read, so a hostile image cannot make decoding take minutes.
const MaxImageSide = 4096

// qrPalette is black on white; a two-colour palette makes a 1-bit PNG.
var qrPalette = color.Palette{color.White, color.Black}

// EncodePNG renders code as a QR code (error correction level M; a code of
// the Base45 alphabet is encoded in alphanumeric mode) in a PNG of size x
// size pixels, with the standard 4-module quiet zone. When size is too small
// for the code the image is as small as the code allows.
func EncodePNG(code string, size int) ([]byte, error) {
	if code == "" {
		return nil, errors.New("ticket: encode png: empty code")
	}
	if size <= 0 || size > MaxImageSide {
		return nil, fmt.Errorf("ticket: encode png: size %d out of range 1..%d", size, MaxImageSide)
	}
	hints := map[gozxing.EncodeHintType]any{
		gozxing.EncodeHintType_ERROR_CORRECTION: decoder.ErrorCorrectionLevel_M,
	}
	m, err := qrcode.NewQRCodeWriter().Encode(code, gozxing.BarcodeFormat_QR_CODE, size, size, hints)
	if err != nil {
		return nil, fmt.Errorf("ticket: encode png: %w", err)
	}
	w, h := m.GetWidth(), m.GetHeight()
	img := image.NewPaletted(image.Rect(0, 0, w, h), qrPalette)
	for y := 0; y < h; y++ {
		row := img.Pix[y*img.Stride : y*img.Stride+w]
		for x := range row {
			if m.Get(x, y) {
				row[x] = 1
			}
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("ticket: encode png: %w", err)
	}
	return buf.Bytes(), nil
}

// DecodePNG reads the QR code in a PNG image.
func DecodePNG(data []byte) (string, error) {
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("ticket: decode png: %w", err)
	}
	if cfg.Width > MaxImageSide || cfg.Height > MaxImageSide {
		return "", fmt.Errorf("ticket: decode png: %dx%d larger than %d", cfg.Width, cfg.Height, MaxImageSide)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("ticket: decode png: %w", err)
	}
	return DecodeImage(img)
}

// DecodeImage reads the QR code in an image.
func DecodeImage(img image.Image) (string, error) {
	b := img.Bounds()
	if b.Dx() > MaxImageSide || b.Dy() > MaxImageSide {
		return "", fmt.Errorf("ticket: decode image: %dx%d larger than %d", b.Dx(), b.Dy(), MaxImageSide)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", fmt.Errorf("ticket: decode image: %w", err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		return "", fmt.Errorf("ticket: decode image: %w", err)
	}
	return res.GetText(), nil
}
