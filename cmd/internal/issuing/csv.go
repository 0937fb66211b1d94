// Package issuing is what HQ and the operator's tool share to issue
// tickets: the attendee CSV as an event team's spreadsheet writes it (UTF-8
// with or without BOM, or GBK as a Chinese Excel saves it), read into
// validated rows with a report of each row refused and why; the signed
// manifest of an event's tickets; and the e-ticket images.
package issuing

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"

	"venuebox/cmd/internal/ticket"
)

// Limits on the attendee CSV. The file comes from a
// spreadsheet someone edited by hand, so every field is capped and checked
// before anything is signed.
const (
	MaxCSVSize = 64 << 20 // bytes, before decoding
	MaxRows    = 200_000  // attendee rows, the header not counted

	// maxNameLen is in bytes (33 Han characters). It keeps the masked name
	// within manifest.MaxField: masking adds at most 3 bytes a word, and a
	// word takes at least 2 bytes with its space.
	maxNameLen     = 100
	maxPhoneLen    = 32 // bytes as written, separators included
	maxLabelLen    = 64 // member_level and ticket_class, in bytes
	maxUIDLen      = 64 // bytes as written, separators included
	minPhoneDigits = 5
	maxPhoneDigits = 20
	minUIDDigits   = 8  // a 4-byte MIFARE UID
	maxUIDDigits   = 32 // 16 bytes, more than any card reader reports
)

// The attendee CSV's columns; the header names them, in any order and case.
const (
	colName = iota
	colPhone
	colMemberLevel
	colCardUID
	colClass
	numColumns
)

var Columns = [numColumns]string{"name", "phone", "member_level", "card_uid", "ticket_class"}

// An Attendee is one validated row of the attendee CSV.
type Attendee struct {
	Line        int    // the line the row starts on; the header is line 1
	Name        string // trimmed, printable, at most maxNameLen bytes
	Phone       string // digits, with a leading + when one was written
	MemberLevel string // may be empty
	CardUID     string // ticket.NormalizeUID form, or empty
	Class       string // may be empty
}

// BOM is UTF-8's byte order mark, which Excel needs to open a CSV as UTF-8.
var BOM = []byte{0xEF, 0xBB, 0xBF}

// Encodings a CSV can be in, as Import.Encoding names them.
const (
	EncodingUTF8    = "utf-8"
	EncodingUTF8BOM = "utf-8-bom"
	EncodingGBK     = "gbk"
)

// An Import is what ReadCSV made of a file: the rows it accepted and, for
// each row it refused, the line and why.
type Import struct {
	Encoding string      `json:"encoding"`
	Rows     []Attendee  `json:"-"`
	Rejected []Rejection `json:"rejected"`
	// Blank counts the rows skipped because every field was blank.
	Blank int `json:"blank"`
}

// A Rejection is one row ReadCSV refused. Reason never quotes a name or
// phone: the report may end up in a log.
type Rejection struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// Err returns the first refused row as an error ("line N: reason"), for a
// caller that takes a file whole or not at all; nil when every row passed.
func (im *Import) Err() error {
	if len(im.Rejected) == 0 {
		return nil
	}
	r := im.Rejected[0]
	return fmt.Errorf("line %d: %s", r.Line, r.Reason)
}

// ReadCSV reads an attendee CSV: UTF-8 with or without a byte order mark,
// or GBK as a Chinese Excel saves "CSV (comma delimited)". A header row
// names the columns (name and phone required; member_level, card_uid and
// ticket_class optional); rows where every field is blank are skipped, as
// Excel writes them below a table. Each row is validated on its own: one
// that fails is listed in the Import's Rejected with its line, the others
// are kept. A card UID given twice is refused on its second row. The error
// is for a file that cannot be read as a whole (encoding, header, size, a
// quote that breaks the CSV structure, too many rows); it names a line
// where there is one and never quotes a name or phone.
func ReadCSV(r io.Reader) (*Import, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxCSVSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxCSVSize {
		return nil, fmt.Errorf("larger than %d MiB", MaxCSVSize>>20)
	}
	im := &Import{Encoding: EncodingUTF8}
	if bytes.HasPrefix(data, BOM) {
		im.Encoding = EncodingUTF8BOM
	}
	text, gbk, err := decodeCSVText(data)
	if err != nil {
		return nil, err
	}
	if gbk {
		im.Encoding = EncodingGBK
	}
	cr := csv.NewReader(strings.NewReader(text))
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("empty file: a header row is required (" + strings.Join(Columns[:], ",") + ")")
	}
	if err != nil {
		return nil, csvError(err)
	}
	cols, err := parseHeader(header)
	if err != nil {
		return nil, fmt.Errorf("line 1: %w", err)
	}
	cr.FieldsPerRecord = len(header)
	uids := make(map[string]int) // card uid → line
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
			im.Rejected = append(im.Rejected, Rejection{Line: pe.StartLine, Reason: fmt.Sprintf("%v (%d, want %d)", csv.ErrFieldCount, len(rec), len(header))})
			continue
		}
		if err != nil {
			return nil, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		if !slices.ContainsFunc(rec, func(s string) bool { return strings.TrimSpace(s) != "" }) {
			im.Blank++
			continue
		}
		if len(im.Rows)+len(im.Rejected) == MaxRows {
			return nil, fmt.Errorf("line %d: more than %d attendee rows", line, MaxRows)
		}
		a, err := parseRow(rec, &cols)
		if err == nil && a.CardUID != "" {
			if prev, dup := uids[a.CardUID]; dup {
				err = fmt.Errorf("card_uid already given on line %d", prev)
			} else {
				uids[a.CardUID] = line
			}
		}
		if err != nil {
			im.Rejected = append(im.Rejected, Rejection{Line: line, Reason: err.Error()})
			continue
		}
		a.Line = line
		im.Rows = append(im.Rows, a)
	}
	if len(im.Rows) == 0 && len(im.Rejected) == 0 {
		return nil, errors.New("no attendee rows after the header")
	}
	return im, nil
}

// decodeCSVText returns the file's text as UTF-8 without a byte order mark:
// the bytes as they are when they are valid UTF-8, otherwise decoded as GBK
// (and then gbk is true).
func decodeCSVText(data []byte) (text string, gbk bool, err error) {
	data = bytes.TrimPrefix(data, BOM)
	// Neither 0xFF 0xFE nor 0xFE 0xFF can start GBK text.
	if bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}) {
		return "", false, errors.New(`UTF-16 text ("Unicode text"); save the sheet as "CSV UTF-8" or "CSV"`)
	}
	if utf8.Valid(data) {
		return string(data), false, nil
	}
	b, err := simplifiedchinese.GBK.NewDecoder().Bytes(data)
	if err != nil {
		return "", false, fmt.Errorf("decode as GBK: %w", err)
	}
	// The decoder turns bytes that are not GBK into U+FFFD, which valid GBK
	// never holds: the file is neither encoding.
	if i := bytes.IndexRune(b, utf8.RuneError); i >= 0 {
		return "", false, fmt.Errorf("line %d: neither UTF-8 nor GBK text", 1+bytes.Count(b[:i], []byte{'\n'}))
	}
	return string(b), true, nil
}

// csvError rewrites an encoding/csv error as "line N: reason".
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("line %d: %w", pe.Line, pe.Err)
	}
	return err
}

// parseHeader maps each known column to its index in the header, -1 where
// the column is absent.
func parseHeader(header []string) ([numColumns]int, error) {
	var cols [numColumns]int
	for i := range cols {
		cols[i] = -1
	}
	var unknown []string
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		j := slices.Index(Columns[:], name)
		if j < 0 {
			unknown = append(unknown, strconv.Quote(clip(h, 40)))
			continue
		}
		if cols[j] >= 0 {
			return cols, fmt.Errorf("column %s appears twice", name)
		}
		cols[j] = i
	}
	if n := len(unknown); n > 0 {
		if n > 5 {
			unknown = append(unknown[:5], fmt.Sprintf("and %d more", n-5))
		}
		return cols, fmt.Errorf("unknown column(s) %s (the columns are %s)",
			strings.Join(unknown, ", "), strings.Join(Columns[:], ","))
	}
	for _, c := range []int{colName, colPhone} {
		if cols[c] < 0 {
			return cols, fmt.Errorf("no %s column (the columns are %s)", Columns[c], strings.Join(Columns[:], ","))
		}
	}
	return cols, nil
}

// clip shortens s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// parseRow validates one record against the header's column map.
func parseRow(rec []string, cols *[numColumns]int) (Attendee, error) {
	field := func(c int) string {
		if cols[c] < 0 {
			return ""
		}
		return strings.TrimSpace(rec[cols[c]])
	}
	var a Attendee
	var err error
	if a.Name, err = checkName(field(colName)); err != nil {
		return a, err
	}
	if a.Phone, err = normalizePhone(field(colPhone)); err != nil {
		return a, err
	}
	if a.MemberLevel, err = checkLabel("member_level", field(colMemberLevel)); err != nil {
		return a, err
	}
	if a.CardUID, err = normalizeCardUID(field(colCardUID)); err != nil {
		return a, err
	}
	if a.Class, err = checkLabel("ticket_class", field(colClass)); err != nil {
		return a, err
	}
	return a, nil
}

// badRune reports characters no name or label may hold: control and format
// characters, line separators, private-use code points and U+FFFD.
func badRune(r rune) bool {
	return r == utf8.RuneError || unicode.IsControl(r) ||
		unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co, unicode.Cs)
}

// formulaStart reports whether a spreadsheet would take s for a formula when
// it opens tickets.csv (CSV injection).
func formulaStart(s string) bool { return s != "" && strings.ContainsRune("=+-@", rune(s[0])) }

func checkName(s string) (string, error) {
	switch {
	case s == "":
		return "", errors.New("empty name")
	case len(s) > maxNameLen:
		return "", fmt.Errorf("name longer than %d bytes", maxNameLen)
	case !utf8.ValidString(s) || strings.ContainsFunc(s, badRune):
		return "", errors.New("name holds a control or invalid character")
	case formulaStart(s):
		return "", fmt.Errorf("name starts with %q, which a spreadsheet would take for a formula", s[:1])
	}
	return s, nil
}

func checkLabel(column, s string) (string, error) {
	switch {
	case len(s) > maxLabelLen:
		return "", fmt.Errorf("%s longer than %d bytes", column, maxLabelLen)
	case !utf8.ValidString(s) || strings.ContainsFunc(s, badRune):
		return "", fmt.Errorf("%s holds a control or invalid character", column)
	case formulaStart(s):
		return "", fmt.Errorf("%s starts with %q, which a spreadsheet would take for a formula", column, s[:1])
	}
	return s, nil
}

// normalizePhone keeps a phone number's digits and a leading +, dropping
// spaces and dashes.
func normalizePhone(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty phone")
	}
	if len(s) > maxPhoneLen {
		return "", fmt.Errorf("phone longer than %d characters", maxPhoneLen)
	}
	if strings.Contains(strings.ToUpper(s), "E+") {
		return "", errors.New("phone is in scientific notation (format the column as text in the spreadsheet)")
	}
	out := make([]byte, 0, len(s))
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			out = append(out, byte(r))
			digits++
		case r == ' ' || r == '-':
		case r == '+' && i == 0:
			out = append(out, '+')
		default:
			return "", fmt.Errorf("phone holds %q; want digits, a leading + and spaces or dashes", r)
		}
	}
	if digits < minPhoneDigits || digits > maxPhoneDigits {
		return "", fmt.Errorf("phone has %d digits, want %d to %d", digits, minPhoneDigits, maxPhoneDigits)
	}
	return string(out), nil
}

// normalizeCardUID returns the ticket.NormalizeUID form of a card UID, which
// must then be hex; an empty UID stays empty (no card).
func normalizeCardUID(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if len(s) > maxUIDLen {
		return "", fmt.Errorf("card_uid longer than %d characters", maxUIDLen)
	}
	u := ticket.NormalizeUID(s)
	for i := 0; i < len(u); i++ {
		if c := u[i]; (c < '0' || c > '9') && (c < 'A' || c > 'F') {
			return "", errors.New("card_uid is not hex (digits 0-9 and A-F, with optional ':', '-' or spaces)")
		}
	}
	if len(u) < minUIDDigits || len(u) > maxUIDDigits {
		return "", fmt.Errorf("card_uid has %d hex digits, want %d to %d", len(u), minUIDDigits, maxUIDDigits)
	}
	return u, nil
}
