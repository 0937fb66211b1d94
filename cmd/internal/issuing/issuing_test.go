package issuing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"venuebox/cmd/internal/manifest"
	"venuebox/cmd/internal/ticket"
)

func TestReadCSV_reportsEachRow(t *testing.T) {
	const body = "name,phone,member_level,card_uid,ticket_class\r\n" +
		"张三丰,138-1234-5678,gold,04:a1:b2:c3,vip\r\n" +
		",13812345678,,,\r\n" + // no name
		"李四,12ab,,,\r\n" + // bad phone
		"王五,13900001111,,04A1B2C3,\r\n" + // card given on line 2
		"赵六,13900002222\r\n" + // two fields
		",,,,\r\n" +
		"=cmd,13900003333,,,\r\n" + // formula
		"钱七,13900004444,,,standard\r\n"
	gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	for enc, data := range map[string][]byte{EncodingUTF8: []byte(body), EncodingUTF8BOM: append(BOM, body...), EncodingGBK: gbk} {
		t.Run(enc, func(t *testing.T) {
			im, err := ReadCSV(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if im.Encoding != enc || len(im.Rows) != 2 || im.Blank != 1 {
				t.Fatalf("encoding %s, %d rows, %d blank", im.Encoding, len(im.Rows), im.Blank)
			}
			if im.Rows[0].Name != "张三丰" || im.Rows[1].Name != "钱七" || im.Rows[1].Line != 9 {
				t.Fatalf("rows %+v", im.Rows)
			}
			want := []struct {
				line int
				says string
			}{{3, "empty name"}, {4, "phone holds"}, {5, "card_uid already given on line 2"}, {6, "wrong number of fields"}, {8, "formula"}}
			if len(im.Rejected) != len(want) {
				t.Fatalf("rejected %+v", im.Rejected)
			}
			for i, w := range want {
				r := im.Rejected[i]
				if r.Line != w.line || !strings.Contains(r.Reason, w.says) {
					t.Errorf("rejection %d: %+v, want line %d: %s", i, r, w.line, w.says)
				}
				if strings.Contains(r.Reason, "1390000") {
					t.Errorf("rejection quotes a phone: %q", r.Reason)
				}
			}
			if err := im.Err(); err == nil || !strings.HasPrefix(err.Error(), "line 3: ") {
				t.Fatalf("Err: %v", err)
			}
		})
	}
}

func TestSnapshot_signsAVerifiableManifest(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	var snap Snapshot
	snap.Event = manifest.Event{ID: "ev-1", Name: "客户答谢会", Classes: []manifest.Class{{Name: "vip", Benefit: "积分 +200"}}}
	snap.Version = 3
	for i, name := range []string{"张三丰", "李四"} {
		code, err := ticket.Sign(priv, ticket.Claims{Event: "ev-1", Number: uint64(i + 1)})
		if err != nil {
			t.Fatal(err)
		}
		snap.Tickets = append(snap.Tickets, Ticket{ID: string(rune('1' + i)), Code: code, Revoked: i == 1,
			Holder: Attendee{Name: name, Phone: "13812345678", Class: "vip", CardUID: "04A1B2C" + string(rune('0'+i))}, Benefit: "积分 +200"})
	}
	raw, err := snap.Sign(priv)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Parse(raw, ticket.NewKeyring(pub))
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != 3 || len(m.Tickets) != 2 || len(m.Cards) != 2 || len(m.Revoked) != 1 || m.Tickets[0].NameMasked != "张*丰" {
		t.Fatalf("manifest %+v", m)
	}
	if bytes.Contains(raw, []byte("张三丰")) || bytes.Contains(raw, []byte("13812345678")) {
		t.Fatal("the manifest holds clear holder data")
	}
	h, err := ticket.Open(snap.Tickets[0].Code, m.Tickets[0].Holder)
	if err != nil || h.Name != "张三丰" {
		t.Fatalf("holder %+v %v", h, err)
	}
}

func TestETicket_PNG(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	code, _ := ticket.Sign(priv, ticket.Claims{Event: "ev-1", Number: 42})
	e := ETicket{Code: code, Event: "财富管理客户答谢会 · 2026", When: "5月20日 14:00 · 上海浦东", NameMasked: "张*丰", Detail: "No. 42 · 贵宾票"}
	raw, err := e.PNG()
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ticket.DecodeImage(img); err != nil || got != code {
		t.Fatalf("the e-ticket's QR reads %q, %v", got, err)
	}
	if FontFound() == "" {
		t.Log("no CJK font found: the e-ticket's text is drawn ASCII-only")
	}
	if dir := os.Getenv("VENUEBOX_SCREENSHOTS"); dir != "" {
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "eticket.png"), raw, 0o644)
	}
	os.WriteFile(filepath.Join(os.TempDir(), "venuebox-eticket.png"), raw, 0o644)
}
