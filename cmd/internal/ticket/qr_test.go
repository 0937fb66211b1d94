package ticket

import (
	"bytes"
	"image"
	"image/png"
	"testing"
)

func TestEncodeDecodePNG(t *testing.T) {
	_, priv := newKey(t)
	code, err := Sign(priv, fullClaims())
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{1, 300, 600} {
		data, err := EncodePNG(code, size)
		if err != nil {
			t.Fatalf("EncodePNG(size %d): %v", size, err)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if size > 100 && (cfg.Width != size || cfg.Height != size) {
			t.Errorf("size %d: image is %dx%d", size, cfg.Width, cfg.Height)
		}
		got, err := DecodePNG(data)
		if err != nil {
			t.Fatalf("DecodePNG(size %d): %v", size, err)
		}
		if got != code {
			t.Fatalf("size %d: decoded %q, want %q", size, got, code)
		}
	}
	for _, size := range []int{0, -1, MaxImageSide + 1} {
		if _, err := EncodePNG(code, size); err == nil {
			t.Errorf("EncodePNG accepted size %d", size)
		}
	}
	if _, err := EncodePNG("", 300); err == nil {
		t.Error("EncodePNG accepted an empty code")
	}
}

func TestDecodeImage_rejects(t *testing.T) {
	if _, err := DecodeImage(image.NewGray(image.Rect(0, 0, 200, 200))); err == nil {
		t.Error("blank image decoded")
	}
	if _, err := DecodeImage(image.NewGray(image.Rect(0, 0, MaxImageSide+1, 1))); err == nil {
		t.Error("oversized image accepted")
	}
	if _, err := DecodePNG([]byte("not a png")); err == nil {
		t.Error("garbage decoded")
	}
}
