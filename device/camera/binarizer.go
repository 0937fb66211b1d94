package camera

import (
	"encoding/binary"
	"fmt"

	"github.com/makiuchi-d/gozxing"
)

// ySource is a gozxing.LuminanceSource straight on a frame's luma plane (the
// Y of a YCbCr JPEG, or a gray one): no conversion, no copy. It covers the
// region of interest of the plane.
type ySource struct {
	gozxing.LuminanceSourceBase
	pix    []byte // the plane, starting at the region's top-left pixel
	stride int
}

// set points the source at a new frame's region, reusing the value.
func (s *ySource) set(pix []byte, stride, width, height int) {
	s.pix, s.stride = pix, stride
	s.Width, s.Height = width, height
}

// GetRow copies row y of the region into row.
func (s *ySource) GetRow(y int, row []byte) ([]byte, error) {
	if y < 0 || y >= s.Height {
		return nil, fmt.Errorf("camera: row %d outside the region's %d", y, s.Height)
	}
	if len(row) < s.Width {
		row = make([]byte, s.Width)
	}
	copy(row, s.pix[y*s.stride:y*s.stride+s.Width])
	return row, nil
}

// GetMatrix copies the region, row after row. The binarizer below reads the
// plane itself; other gozxing readers would call this.
func (s *ySource) GetMatrix() []byte {
	m := make([]byte, 0, s.Width*s.Height)
	for y := range s.Height {
		m = append(m, s.pix[y*s.stride:y*s.stride+s.Width]...)
	}
	return m
}

// Invert returns the source with black and white swapped.
func (s *ySource) Invert() gozxing.LuminanceSource { return gozxing.LuminanceSourceInvert(s) }

// String draws the source in ASCII, as gozxing's sources do.
func (s *ySource) String() string { return gozxing.LuminanceSourceString(s) }

// Block geometry of ZXing's HybridBinarizer.
const (
	blockPower = 3
	blockSize  = 1 << blockPower
	// minDynamicRange is the spread below which a block counts as flat.
	minDynamicRange = 24
	// minRegion is the smallest side the binarizer works on (5 blocks).
	minRegion = 5 * blockSize
)

// binarizer is ZXing's HybridBinarizer (local thresholds over 8x8 blocks,
// each from the 5x5 blocks around it), computed as gozxing's port of it
// computes it, bit for bit, but reading the plane in place and writing
// whole words into a bit matrix it keeps from frame to frame. gozxing's
// own allocates a matrix, a luminance copy and a slice per block row for
// every frame and sets one bit per call; on the Pi the allocations cost as
// much as the work.
//
// The algorithm is ZXing's (Apache License 2.0):
// https://github.com/zxing/zxing/blob/master/core/src/main/java/com/google/zxing/common/HybridBinarizer.java
type binarizer struct {
	src    *ySource
	points []int // black point of each block, row-major
	thr    []int // threshold of each block, row-major
	matrix *gozxing.BitMatrix
	row    *gozxing.BitArray
}

// GetLuminanceSource returns the source the binarizer reads.
func (b *binarizer) GetLuminanceSource() gozxing.LuminanceSource { return b.src }

// GetWidth returns the region's width.
func (b *binarizer) GetWidth() int { return b.src.Width }

// GetHeight returns the region's height.
func (b *binarizer) GetHeight() int { return b.src.Height }

// GetBlackRow serves 1D readers, which the box does not use, with gozxing's
// global histogram binarizer, as HybridBinarizer does.
func (b *binarizer) GetBlackRow(y int, row *gozxing.BitArray) (*gozxing.BitArray, error) {
	return gozxing.NewGlobalHistgramBinarizer(b.src).GetBlackRow(y, row)
}

// CreateBinarizer returns gozxing's HybridBinarizer for another source.
func (b *binarizer) CreateBinarizer(src gozxing.LuminanceSource) gozxing.Binarizer {
	return gozxing.NewHybridBinarizer(src)
}

// GetBlackMatrix binarizes the region; gozxing.BinaryBitmap calls it once
// per frame. The matrix is reused by the next frame: a result must not keep
// it, and gozxing's QR reader does not.
func (b *binarizer) GetBlackMatrix() (*gozxing.BitMatrix, error) {
	w, h := b.src.Width, b.src.Height
	if w < minRegion || h < minRegion {
		return nil, gozxing.NewNotFoundException("region %dx%d smaller than %d", w, h, minRegion)
	}
	if b.matrix == nil || b.matrix.GetWidth() != w || b.matrix.GetHeight() != h {
		m, err := gozxing.NewBitMatrix(w, h)
		if err != nil {
			return nil, err
		}
		b.matrix, b.row = m, gozxing.NewBitArray(w)
	}
	subW, subH := (w+blockSize-1)>>blockPower, (h+blockSize-1)>>blockPower
	b.blackPoints(subW, subH)
	b.thresholds(subW, subH)
	b.fill(subW, subH)
	return b.matrix, nil
}

// blackPoints estimates each block's black point, as ZXing does.
func (b *binarizer) blackPoints(subW, subH int) {
	w, h, pix, stride := b.src.Width, b.src.Height, b.src.pix, b.src.stride
	b.points = grow(b.points, subW*subH)
	pts := b.points
	for by := range subH {
		yoff := min(by<<blockPower, h-blockSize)
		for bx := range subW {
			xoff := min(bx<<blockPower, w-blockSize)
			sum, lo, hi := 0, 0xFF, 0
			for yy := 0; yy < blockSize; yy++ {
				for _, p := range (*[blockSize]byte)(pix[(yoff+yy)*stride+xoff:]) {
					v := int(p)
					sum += v
					lo, hi = min(lo, v), max(hi, v)
				}
				if hi-lo > minDynamicRange {
					// Contrast found: only the sum of the other rows is needed.
					for yy++; yy < blockSize; yy++ {
						sum += sum8(binary.LittleEndian.Uint64(pix[(yoff+yy)*stride+xoff:]))
					}
				}
			}
			avg := sum >> (2 * blockPower)
			if hi-lo <= minDynamicRange {
				// A flat block is taken as background, half its minimum,
				// unless its neighbours already saw darker black points.
				avg = lo / 2
				if by > 0 && bx > 0 {
					nb := (pts[(by-1)*subW+bx] + 2*pts[by*subW+bx-1] + pts[(by-1)*subW+bx-1]) / 4
					if lo < nb {
						avg = nb
					}
				}
			}
			pts[by*subW+bx] = avg
		}
	}
}

// thresholds averages the black points of the 5x5 blocks around each block.
func (b *binarizer) thresholds(subW, subH int) {
	b.thr = grow(b.thr, subW*subH)
	for by := range subH {
		top := min(max(by, 2), subH-3)
		for bx := range subW {
			left := min(max(bx, 2), subW-3)
			sum := 0
			for z := -2; z <= 2; z++ {
				r := b.points[(top+z)*subW:]
				sum += r[left-2] + r[left-1] + r[left] + r[left+1] + r[left+2]
			}
			b.thr[by*subW+bx] = sum / 25
		}
	}
}

// fill sets the matrix's bits: a pixel is black when it is at most the
// threshold of a block that covers it. The last block of a row or column is
// moved back to end at the edge, so near an edge two blocks cover a pixel
// and either can make it black, as in ZXing.
func (b *binarizer) fill(subW, subH int) {
	w, h, pix, stride := b.src.Width, b.src.Height, b.src.pix, b.src.stride
	words := b.row.GetBitArray()
	for y := range h {
		clear(words)
		line := pix[y*stride:][:w]
		b.fillRow(words, line, b.thr[min(y>>blockPower, subH-1)*subW:][:subW], w)
		if last := subH - 1; y >= h-blockSize && y>>blockPower != last {
			b.fillRow(words, line, b.thr[last*subW:][:subW], w)
		}
		b.matrix.SetRow(y, b.row)
	}
}

// fillRow ORs into words the black pixels of line under each block's
// threshold in thr.
func (b *binarizer) fillRow(words []uint32, line []byte, thr []int, w int) {
	for bx, t := range thr {
		xoff := min(bx<<blockPower, w-blockSize)
		m := atMost(binary.LittleEndian.Uint64(line[xoff:]), uint64(t)*lanes)
		if m == 0 {
			continue
		}
		words[xoff>>5] |= m << (xoff & 31)
		if s := xoff & 31; s > 32-blockSize {
			words[xoff>>5+1] |= m >> (32 - s)
		}
	}
}

// sum8 adds the eight bytes of x: pairs into 16-bit lanes, then the four
// lanes by one multiplication into the top lane (at most 8*255, no carry).
func sum8(x uint64) int {
	const pairs = 0x00FF00FF00FF00FF
	a := x&pairs + x>>8&pairs
	return int(a * 0x0001000100010001 >> 48)
}

// SWAR constants: a one and the high bit in each byte of a word.
const (
	lanes = 0x0101010101010101
	highs = 0x8080808080808080
)

// atMost compares the eight bytes of px with those of t at once and
// returns a bit for each byte i of px (bit i) that is at most t's: eight
// pixels against a threshold without a branch (Hacker's Delight, 2nd ed.,
// section 2-18, "Multibyte Add, Subtract, Absolute Value").
func atMost(px, t uint64) uint32 {
	// t-px in each byte, without borrows crossing bytes.
	d := ((t | highs) - (px &^ highs)) ^ ((t ^ ^px) & highs)
	// The borrow out of each byte's top: set where t < px.
	borrow := (^t & px) | (^(t ^ px) & d)
	black := ^borrow & highs
	// Gather the eight high bits into the low byte, byte i to bit i.
	return uint32(((black >> 7) * 0x0102040810204080) >> 56)
}

// grow returns s resized to n, reusing its array when it is large enough.
func grow(s []int, n int) []int {
	if cap(s) < n {
		return make([]int, n)
	}
	return s[:n]
}
