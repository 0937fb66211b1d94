package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

func gbk(t testing.TB, s string) []byte {
	t.Helper()
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encode GBK: %v", err)
	}
	return b
}

func TestReadAttendees_encodingsAndHeader(t *testing.T) {
	const body = "张三丰,138-1234-5678,金卡,04:a1:b2:c3,VIP\r\n" +
		"Alice Wong,+86 139 1234 5678,,,\r\n" +
		",,,,\r\n" + // Excel's blank row below a table
		"\r\n" +
		"\"欧阳,娜娜\",13700000000,,,嘉宾\r\n"
	want := []attendee{
		{Line: 2, Name: "张三丰", Phone: "13812345678", MemberLevel: "金卡", CardUID: "04A1B2C3", Class: "VIP"},
		{Line: 3, Name: "Alice Wong", Phone: "+8613912345678"},
		{Line: 6, Name: "欧阳,娜娜", Phone: "13700000000", Class: "嘉宾"},
	}
	const header = "name,phone,member_level,card_uid,ticket_class\r\n"
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"utf8", []byte(header + body)},
		{"utf8 bom", append([]byte("\xEF\xBB\xBF"), header+body...)},
		{"gbk", gbk(t, header+body)},
		{"header case and spaces", []byte(" Name ,PHONE,Member_Level, card_uid,Ticket_Class\r\n" + body)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAttendees(bytes.NewReader(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
	t.Run("columns in another order, optional ones absent", func(t *testing.T) {
		got, err := readAttendees(strings.NewReader("phone,name\n13812345678,李四\n"))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != (attendee{Line: 2, Name: "李四", Phone: "13812345678"}) {
			t.Errorf("got %+v", got)
		}
	})
}

func TestReadAttendees_errors(t *testing.T) {
	const h = "name,phone,member_level,card_uid,ticket_class\n"
	const ok = "张三,13812345678,,,\n"
	for _, tc := range []struct {
		name, data string
		want       string // substring of the error
	}{
		{"empty file", "", "header row is required"},
		{"header only", h, "no attendee rows"},
		{"unknown column", "name,phone,email,Age\nx,12345,a,b\n", `line 1: unknown column(s) "email", "Age"`},
		{"duplicate column", "name,phone,Name\n", "line 1: column name appears twice"},
		{"no phone column", "name,card_uid\n", "line 1: no phone column"},
		{"empty header cell", "name,phone,\n", `line 1: unknown column(s) ""`},
		{"empty name", h + ok + ",13812345678,,,\n", "line 3: empty name"},
		{"blank name", h + ok + "  ,13812345678,,,\n", "line 3: empty name"},
		{"control in name", h + "a\x01b,13812345678,,,\n", "line 2: name holds a control"},
		{"zero-width in name", h + "a\u200bb,13812345678,,,\n", "line 2: name holds a control"},
		{"formula name", h + "=HYPERLINK(1),13812345678,,,\n", "line 2: name starts with \"=\""},
		{"long name", h + strings.Repeat("张", 34) + ",13812345678,,,\n", "line 2: name longer than"},
		{"empty phone", h + "张三,,,,\n", "line 2: empty phone"},
		{"letters in phone", h + "张三,1381234567x,,,\n", `line 2: phone holds 'x'`},
		{"plus inside phone", h + "张三,138+12345678,,,\n", `phone holds '+'`},
		{"short phone", h + "张三,1234,,,\n", "line 2: phone has 4 digits"},
		{"long phone", h + "张三,123456789012345678901,,,\n", "line 2: phone has 21 digits"},
		{"excel number phone", h + "张三,1.38123E+10,,,\n", "scientific notation"},
		{"uid not hex", h + "张三,13812345678,,04:A1:ZZ:00,\n", "line 2: card_uid is not hex"},
		{"uid short", h + "张三,13812345678,,A1B2,\n", "line 2: card_uid has 4 hex digits"},
		{"duplicate uid", h + "张三,13812345678,,04:a1:b2:c3,\n" + ok + "李四,13812345678,,04A1B2C3,\n", "line 4: card_uid already given on line 2"},
		{"formula class", h + "张三,13812345678,,,@SUM(A1)\n", "line 2: ticket_class starts with"},
		{"control in level", h + "张三,13812345678,a\tb,,\n", "line 2: member_level holds a control"},
		{"long level", h + "张三,13812345678," + strings.Repeat("x", 65) + ",,\n", "line 2: member_level longer than 64"},
		{"wrong field count", h + ok + ok + "张三,13812345678\n", "line 4: wrong number of fields"},
		{"bare quote", h + ok + "张\"三,13812345678,,,\n", "line 3: bare \""},
		{"utf16", "\xFF\xFEn\x00a\x00", "UTF-16"},
		{"neither utf8 nor gbk", h + ok + "\xFF\xFF,13812345678,,,\n", "line 3: neither UTF-8 nor GBK"},
		{"multi-line field", h + "\"张\n三\",13812345678,,,\n", "line 2: name holds a control"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := readAttendees(strings.NewReader(tc.data))
			if err == nil {
				t.Fatalf("accepted: %+v", rows)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "13812345678") {
				t.Errorf("error %q quotes a phone number", err)
			}
		})
	}
}

func TestReadAttendees_caps(t *testing.T) {
	t.Run("rows", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("name,phone\n")
		for range maxRows + 1 {
			b.WriteString("a,12345\n")
		}
		_, err := readAttendees(strings.NewReader(b.String()))
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("line %d: more than %d attendee rows", maxRows+2, maxRows)) {
			t.Errorf("error %v", err)
		}
	})
	t.Run("size", func(t *testing.T) {
		data := io.MultiReader(strings.NewReader("name,phone\n"), io.LimitReader(spaces{}, maxCSVSize))
		_, err := readAttendees(data)
		if err == nil || !strings.Contains(err.Error(), "larger than 64 MiB") {
			t.Errorf("error %v", err)
		}
	})
}

// spaces reads as an endless run of spaces.
type spaces struct{}

var spaceBlock = bytes.Repeat([]byte{' '}, 64<<10)

func (spaces) Read(p []byte) (int, error) { return copy(p, spaceBlock), nil }

var (
	phoneRE = regexp.MustCompile(`^\+?[0-9]{5,20}$`)
	uidRE   = regexp.MustCompile(`^([0-9A-F]{8,32})?$`)
)

// checkRow restates the row rules independently of the parser.
func checkRow(a attendee) error {
	printable := func(s string) bool {
		return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool {
			return unicode.IsControl(r) || r == utf8.RuneError || r == '\u2028' || r == '\ufeff'
		})
	}
	trimmed := func(s string) bool { return s == strings.TrimSpace(s) }
	switch {
	case a.Name == "" || len(a.Name) > 100 || !printable(a.Name) || !trimmed(a.Name):
		return fmt.Errorf("bad name %q", a.Name)
	case !phoneRE.MatchString(a.Phone):
		return fmt.Errorf("bad phone %q", a.Phone)
	case !uidRE.MatchString(a.CardUID):
		return fmt.Errorf("bad card uid %q", a.CardUID)
	case len(a.MemberLevel) > 64 || !printable(a.MemberLevel) || !trimmed(a.MemberLevel):
		return fmt.Errorf("bad member level %q", a.MemberLevel)
	case len(a.Class) > 64 || !printable(a.Class) || !trimmed(a.Class):
		return fmt.Errorf("bad class %q", a.Class)
	}
	for _, s := range []string{a.Name, a.MemberLevel, a.Class} {
		if s != "" && strings.ContainsRune("=+-@", rune(s[0])) {
			return fmt.Errorf("formula-like field %q", s)
		}
	}
	return nil
}

func FuzzReadAttendees(f *testing.F) {
	const h = "name,phone,member_level,card_uid,ticket_class\r\n"
	for _, s := range []string{
		h + "张三丰,138-1234-5678,金卡,04:a1:b2:c3,VIP\r\nAlice Wong,+86 139 1234 5678,,,\r\n",
		"\xEF\xBB\xBF" + h + "李四,13812345678,,,\r\n",
		"phone,NAME\n12345,x\n,\n",
		h + "\"a,\"\"b\"\"\",12345,,,\n",
		h + ",12345,,,\n",
		h + "a,12345,,0011223344556677,\n" + "b,12345,,00-11-22-33-44-55-66-77,\n",
		"name,phone,x\n",
		"\xFF\xFEn\x00",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Add(gbk(f, h+"王芳,13800000000,普通,,嘉宾\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := readAttendees(bytes.NewReader(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") && !strings.Contains(err.Error(), "header row is required") &&
				!strings.Contains(err.Error(), "no attendee rows") && !strings.Contains(err.Error(), "UTF-16") {
				t.Errorf("error without a line: %v", err)
			}
			return
		}
		if len(rows) == 0 || len(rows) > maxRows {
			t.Fatalf("%d rows", len(rows))
		}
		uids := make(map[string]bool)
		line := 1
		for _, a := range rows {
			if err := checkRow(a); err != nil {
				t.Fatalf("line %d: accepted %v", a.Line, err)
			}
			if a.Line <= line {
				t.Fatalf("line %d after line %d", a.Line, line)
			}
			line = a.Line
			if a.CardUID != "" && uids[a.CardUID] {
				t.Fatalf("line %d: duplicate card uid %q accepted", a.Line, a.CardUID)
			}
			uids[a.CardUID] = true
		}
		// What was accepted reads back the same once written as CSV.
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		w.Write(columnNames[:])
		for _, a := range rows {
			w.Write([]string{a.Name, a.Phone, a.MemberLevel, a.CardUID, a.Class})
		}
		w.Flush()
		again, err := readAttendees(&buf)
		if err != nil {
			t.Fatalf("rows written back do not read: %v", err)
		}
		for i := range rows {
			a, b := rows[i], again[i]
			a.Line, b.Line = 0, 0
			if a != b {
				t.Fatalf("row %d read back as %+v, was %+v", i, b, a)
			}
		}
	})
}
