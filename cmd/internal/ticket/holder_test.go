package ticket

import (
	"errors"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	h := Holder{Name: "张三丰", Phone: "13812345678"}
	sealed, err := Seal("VB1CODE", h)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), "13812345678") || strings.Contains(string(sealed), "张三丰") {
		t.Fatal("sealed data contains the holder in clear")
	}
	got, err := Open("VB1CODE", sealed)
	if err != nil || got != h {
		t.Fatalf("Open = %+v, %v", got, err)
	}
	again, err := Seal("VB1CODE", h)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) == string(sealed) {
		t.Error("two seals of the same holder are identical: nonce reused")
	}
	if _, err := Open("VB1CODF", sealed); !errors.Is(err, ErrSealed) {
		t.Errorf("Open with wrong secret: %v, want ErrSealed", err)
	}
	for i := range sealed {
		damaged := append([]byte(nil), sealed...)
		damaged[i] ^= 0x01
		if _, err := Open("VB1CODE", damaged); err == nil {
			t.Fatalf("Open accepted data with byte %d changed", i)
		}
	}
	if _, err := Open("VB1CODE", sealed[:10]); err == nil {
		t.Error("Open accepted truncated data")
	}
	if _, err := Seal("", h); err == nil {
		t.Error("Seal accepted an empty secret")
	}
	if _, err := Open("VB1CODE", make([]byte, MaxSealed+1)); err == nil {
		t.Error("Open accepted oversized data")
	}
}

func TestMaskName(t *testing.T) {
	cases := []struct{ in, want string }{
		{"张三丰", "张*丰"},
		{"张三", "张*"},
		{"张", "*"},
		{"欧阳娜娜", "欧**娜"},
		{"司马相如", "司**如"},
		{"阿依古丽·买买提", "阿******提"},
		{"  李四  ", "李*"},
		{"Alice Wong", "A*** W***"},
		{"Alice", "A***"},
		{"Zoë Ånström", "Z*** Å***"},
		{"A", "*"},
		{"J Smith", "J*** S***"},
		{"", ""},
		{"   ", ""},
		{"王\x00五", "王*"},
		{"\xff\xfe", ""},
	}
	for _, c := range cases {
		if got := MaskName(c.in); got != c.want {
			t.Errorf("MaskName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestMaskPhone(t *testing.T) {
	cases := []struct{ in, want string }{
		{"13812345678", "138****5678"},
		{"138-1234-5678", "138****5678"},
		{"+86 138 1234 5678", "138****5678"},
		{"8613812345678", "138****5678"},
		{"021-62345678", "021****5678"},
		{"62345678", "****78"},
		{"1234567", "****67"},
		{"123456", "****"},
		{"12", "****"},
		{"phone", "****"},
		{"", ""},
		{"  ", ""},
	}
	for _, c := range cases {
		if got := MaskPhone(c.in); got != c.want {
			t.Errorf("MaskPhone(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
