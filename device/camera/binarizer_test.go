package camera

import (
	"math/rand/v2"
	"testing"

	"github.com/makiuchi-d/gozxing"
)

// TestBinarizer_matchesGozxing holds the binarizer to gozxing's
// HybridBinarizer, bit for bit, on random and camera-like planes, sizes that
// are and are not multiples of the block, and regions inside a larger plane.
func TestBinarizer_matchesGozxing(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	scene := frames(t, 640, 480, 1, true)[0].luma
	tests := []struct {
		name          string
		pix           []byte
		stride, dataH int
		x, y, w, h    int
	}{
		{"frame", scene.Pix, scene.Stride, 480, 0, 0, 640, 480},
		{"frame roi", scene.Pix, scene.Stride, 480, 128, 48, 384, 384},
		{"frame odd roi", scene.Pix, scene.Stride, 480, 101, 37, 333, 299},
		{"smallest", nil, 0, 0, 0, 0, 40, 40},
		{"odd", nil, 0, 0, 0, 0, 77, 53},
		{"wide", nil, 0, 0, 0, 0, 301, 41},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pix, stride, dataH := tt.pix, tt.stride, tt.dataH
			if pix == nil {
				// Blotches of dark and light with noise, flat areas included.
				stride, dataH = tt.w+5, tt.h
				pix = make([]byte, stride*dataH)
				for i := range pix {
					base := 200
					if (i%stride/9+i/stride/7)%3 == 0 {
						base = 40
					}
					if (i/stride)%11 < 3 {
						base = 128
					}
					pix[i] = byte(max(0, min(255, base+rng.IntN(50)-25)))
				}
			}
			src, err := gozxing.NewPlanarYUVLuminanceSource(pix, stride, dataH, tt.x, tt.y, tt.w, tt.h, false)
			if err != nil {
				t.Fatal(err)
			}
			want, err := gozxing.NewHybridBinarizer(src).GetBlackMatrix()
			if err != nil {
				t.Fatal(err)
			}
			var ys ySource
			ys.set(pix[tt.y*stride+tt.x:], stride, tt.w, tt.h)
			b := binarizer{src: &ys}
			for round := range 2 { // the second reuses the buffers
				got, err := b.GetBlackMatrix()
				if err != nil {
					t.Fatal(err)
				}
				for y := range tt.h {
					for x := range tt.w {
						if got.Get(x, y) != want.Get(x, y) {
							t.Fatalf("round %d: pixel (%d, %d): got %v, want %v", round, x, y, got.Get(x, y), want.Get(x, y))
						}
					}
				}
			}
		})
	}
}

// TestAtMost checks the eight-byte comparison against every pixel and
// threshold, in every byte position.
func TestAtMost(t *testing.T) {
	for th := range 256 {
		for p := range 256 {
			for i := range 8 {
				// The other bytes hold values on either side of th.
				px := uint64(0xFF00FF00FF00FF00)&^(0xFF<<(8*i)) | uint64(p)<<(8*i)
				got := atMost(px, uint64(th)*lanes)
				want := uint32(0)
				for j := range 8 {
					if int(byte(px>>(8*j))) <= th {
						want |= 1 << j
					}
				}
				if got != want {
					t.Fatalf("atMost(%#x, %d) = %08b, want %08b", px, th, got, want)
				}
			}
		}
	}
}

func TestSum8(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, x := range []uint64{0, ^uint64(0), 0x0102030405060708} {
		want := 0
		for j := range 8 {
			want += int(byte(x >> (8 * j)))
		}
		if got := sum8(x); got != want {
			t.Fatalf("sum8(%#x) = %d, want %d", x, got, want)
		}
	}
	for range 100000 {
		x := rng.Uint64()
		want := 0
		for j := range 8 {
			want += int(byte(x >> (8 * j)))
		}
		if got := sum8(x); got != want {
			t.Fatalf("sum8(%#x) = %d, want %d", x, got, want)
		}
	}
}

// TestYSource checks the parts of the source that other gozxing readers use.
func TestYSource(t *testing.T) {
	pix := []byte{
		1, 2, 3, 99,
		4, 5, 6, 99,
	}
	var s ySource
	s.set(pix[1:], 4, 2, 2)
	if row, err := s.GetRow(1, nil); err != nil || string(row) != "\x05\x06" {
		t.Errorf("GetRow(1) = %v, %v", row, err)
	}
	if _, err := s.GetRow(2, nil); err == nil {
		t.Error("GetRow(2) of 2 rows succeeded")
	}
	if m := s.GetMatrix(); string(m) != "\x02\x03\x05\x06" {
		t.Errorf("GetMatrix = %v", m)
	}
	if row, _ := s.Invert().GetRow(0, nil); string(row) != "\xfd\xfc" {
		t.Errorf("inverted row 0 = %v", row)
	}
	if got := s.String(); got != "##\n##\n" {
		t.Errorf("String = %q", got)
	}
}
