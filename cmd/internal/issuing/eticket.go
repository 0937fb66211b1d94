package issuing

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"strings"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"

	"venuebox/cmd/internal/ticket"
)

// An E-ticket is what an attendee receives: the code as a QR image with the
// event's name and the holder, masked, under it, as a PNG.
type ETicket struct {
	Code       string
	Event      string // the event's name
	When       string // date, time and venue as they should read, may be empty
	NameMasked string
	Detail     string // ticket number, class, zone: one line
}

// FontPaths are where a CJK font is looked for, first found first; the
// VENUEBOX_FONT environment variable, when set, comes before them. Debian's
// fonts-noto-cjk installs the first.
var FontPaths = []string{
	"/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
	"/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
	"/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
	"/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
	"/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
}

var fonts struct {
	once sync.Once
	f    *sfnt.Font // nil: no CJK font found
	path string
	mu   sync.Mutex
	face map[float64]font.Face
}

// loadFont finds a CJK font once; a collection gives its Simplified
// Chinese member.
func loadFont() {
	paths := FontPaths
	if p := os.Getenv("VENUEBOX_FONT"); p != "" {
		paths = append([]string{p}, paths...)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		c, err := opentype.ParseCollection(data)
		if err != nil {
			continue
		}
		var pick *sfnt.Font
		for i := range c.NumFonts() {
			f, err := c.Font(i)
			if err != nil {
				continue
			}
			if pick == nil {
				pick = f
			}
			if name, err := f.Name(nil, sfnt.NameIDFamily); err == nil && strings.HasSuffix(name, " SC") {
				pick = f
				break
			}
		}
		if pick != nil {
			fonts.f, fonts.path = pick, p
			return
		}
	}
}

// FontFound reports the CJK font e-tickets are drawn with ("" when none
// was found: their text is then drawn in a small ASCII-only font, and
// Chinese characters show as '?').
func FontFound() string {
	fonts.once.Do(loadFont)
	return fonts.path
}

func face(size float64) font.Face {
	fonts.once.Do(loadFont)
	if fonts.f == nil {
		return basicfont.Face7x13
	}
	fonts.mu.Lock()
	defer fonts.mu.Unlock()
	if f, ok := fonts.face[size]; ok {
		return f
	}
	f, err := opentype.NewFace(fonts.f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return basicfont.Face7x13
	}
	if fonts.face == nil {
		fonts.face = map[float64]font.Face{}
	}
	fonts.face[size] = f
	return f
}

// fit shortens s with an ellipsis until it is at most w wide in f.
func fit(f font.Face, s string, w int) string {
	if font.MeasureString(f, s).Ceil() <= w {
		return s
	}
	r := []rune(s)
	for len(r) > 0 {
		r = r[:len(r)-1]
		if t := string(r) + "…"; font.MeasureString(f, t).Ceil() <= w {
			return t
		}
	}
	return ""
}

// asciiOnly replaces what the fallback font cannot draw.
func asciiOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// E-ticket layout, in pixels.
const (
	eticketWidth = 600
	eticketQR    = 440
	eticketPad   = 28
)

var (
	inkDark  = color.RGBA{0x0d, 0x18, 0x28, 0xff} // the kiosk's background colour, as ink
	inkMuted = color.RGBA{0x5b, 0x6b, 0x80, 0xff}
	inkBand  = color.RGBA{0x4f, 0x8d, 0xf7, 0xff} // the kiosk's accent
)

// PNG draws the e-ticket: a band in the kiosk's accent colour, the QR code,
// and under it the event, when and where, the masked holder and the
// ticket's detail, each on one line, shortened to fit.
func (e *ETicket) PNG() ([]byte, error) {
	if e.Code == "" {
		return nil, errors.New("issuing: e-ticket: no code")
	}
	qrPNG, err := ticket.EncodePNG(e.Code, eticketQR)
	if err != nil {
		return nil, fmt.Errorf("issuing: e-ticket: %w", err)
	}
	qr, err := png.Decode(bytes.NewReader(qrPNG))
	if err != nil {
		return nil, fmt.Errorf("issuing: e-ticket: %w", err)
	}
	type line struct {
		text string
		size float64
		ink  color.Color
		gap  int
	}
	lines := []line{{e.Event, 30, inkDark, 14}, {e.When, 20, inkMuted, 10}, {e.NameMasked, 28, inkDark, 18}, {e.Detail, 20, inkMuted, 10}}
	qb := qr.Bounds()
	h := 12 + eticketPad/2 + qb.Dy() + eticketPad/2
	for _, l := range lines {
		if l.text != "" {
			f := face(l.size)
			h += l.gap + f.Metrics().Height.Ceil()
		}
	}
	h += eticketPad
	img := image.NewRGBA(image.Rect(0, 0, eticketWidth, h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(0, 0, eticketWidth, 12), image.NewUniform(inkBand), image.Point{}, draw.Src)
	y := 12 + eticketPad/2
	x := (eticketWidth - qb.Dx()) / 2
	draw.Draw(img, image.Rect(x, y, x+qb.Dx(), y+qb.Dy()), qr, qb.Min, draw.Src)
	y += qb.Dy() + eticketPad/2
	for _, l := range lines {
		if l.text == "" {
			continue
		}
		f := face(l.size)
		text := l.text
		if f == basicfont.Face7x13 {
			text = asciiOnly(text)
		}
		text = fit(f, text, eticketWidth-2*eticketPad)
		m := f.Metrics()
		y += l.gap
		d := font.Drawer{Dst: img, Src: image.NewUniform(l.ink), Face: f}
		w := d.MeasureString(text)
		d.Dot = fixed.Point26_6{X: fixed.I(eticketWidth/2) - w/2, Y: fixed.I(y) + m.Ascent}
		d.DrawString(text)
		y += m.Height.Ceil()
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("issuing: e-ticket: %w", err)
	}
	return buf.Bytes(), nil
}
