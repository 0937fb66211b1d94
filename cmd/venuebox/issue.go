package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"venuebox/cmd/internal/issuing"
	"venuebox/cmd/internal/manifest"
	"venuebox/cmd/internal/ticket"
)

func init() {
	commands["issue"] = command{summary: "issue signed tickets, QR images and a manifest from an attendee CSV", run: runIssue}
}

// defaultQRSize is the side in pixels of the QR images issue writes: 2.5 cm
// printed at 300 dpi, and read by a gate scanner from a phone screen.
const defaultQRSize = 300

func runIssue(args []string, stdout, stderr io.Writer) int {
	f := newFlags("issue", "-key DIR/signing.key -event ID -in attendees.csv -out DIR [flags]",
		"Issues one signed ticket per row of the attendee CSV and writes, into a new DIR:\n"+
			"  tickets.csv     ticket_id,code,name,phone,member_level,card_uid,ticket_class\n"+
			"                  (UTF-8 with BOM for Excel, mode 0600: it holds names, phones and the codes)\n"+
			"  qr/ID.png       each ticket's code as a QR image\n"+
			"  manifest.json   the signed snapshot boxes load for the event: codes hashed,\n"+
			"                  card UIDs keyed-hashed, holders sealed and masked\n"+
			"The CSV is UTF-8 (with or without BOM) or GBK as a Chinese Excel saves it; its header\n"+
			"names the columns name,phone,member_level,card_uid,ticket_class in any order (name and\n"+
			"phone required). Any bad row stops the run with its line number, and nothing is written.\n"+
			"DIR must not exist or be empty. Without -from/-until tickets have no validity window;\n"+
			"without -zone they are valid at every gate.")
	keyPath := f.String("key", "", "signing key `FILE` (as keygen writes it)")
	event := f.String("event", "", "event `ID` the tickets admit to")
	in := f.String("in", "", "attendee CSV `FILE`")
	out := f.String("out", "", "output `DIR` (created; must not exist or be empty)")
	fromStr := f.String("from", "", "start of the validity window, an RFC 3339 `TIME` such as 2026-05-20T08:00:00+08:00; needs -until")
	untilStr := f.String("until", "", "end of the validity window, an RFC 3339 `TIME`; needs -from")
	zone := f.String("zone", "", "the only `ZONE` the tickets admit to (default: every gate)")
	name := f.String("name", "", "event `NAME` shown at the gate")
	venue := f.String("venue", "", "`VENUE` id recorded in the manifest")
	qrSize := f.Int("qr-size", defaultQRSize, "side of the QR images in `PX` (never smaller than the code needs: 1 px a module)")
	if code, ok := f.parse(args, stdout, stderr); !ok {
		return code
	}
	if f.NArg() > 0 {
		return f.fail(stderr, exitUsage, fmt.Errorf("unexpected argument %q", f.Arg(0)))
	}
	for _, req := range []struct{ flag, val string }{{"key", *keyPath}, {"event", *event}, {"in", *in}, {"out", *out}} {
		if req.val == "" {
			return f.fail(stderr, exitUsage, fmt.Errorf("-%s is required", req.flag))
		}
	}
	if *qrSize < 1 || *qrSize > ticket.MaxImageSide {
		return f.fail(stderr, exitUsage, fmt.Errorf("-qr-size %d out of range 1..%d", *qrSize, ticket.MaxImageSide))
	}
	from, until, err := parseWindow(*fromStr, *untilStr)
	if err != nil {
		return f.fail(stderr, exitUsage, err)
	}
	hdr := manifest.Event{ID: *event, Name: *name, Venue: *venue}
	if *zone != "" {
		hdr.Zones = []string{*zone}
	}
	if err := (&manifest.Manifest{Format: manifest.Format, Event: hdr, Kind: manifest.KindSnapshot, Version: 1}).Validate(); err != nil {
		return f.fail(stderr, exitUsage, err)
	}
	priv, err := ticket.LoadPrivateKey(*keyPath)
	if err != nil {
		return f.fail(stderr, exitUsage, err)
	}
	if err := checkOutDir(*out); err != nil {
		return f.fail(stderr, exitUsage, err)
	}
	rows, err := readAttendeesFile(*in)
	if err != nil {
		return f.fail(stderr, exitUsage, err)
	}
	b, err := issueTickets(priv, rows, issueOpts{event: hdr, zone: *zone, from: from, until: until, now: time.Now()})
	if err != nil {
		return f.fail(stderr, exitUsage, err)
	}
	if err := b.write(*out, *qrSize); err != nil {
		if errors.Is(err, errOutNotEmpty) {
			return f.fail(stderr, exitUsage, err)
		}
		return f.fail(stderr, exitFail, err)
	}
	fmt.Fprintf(stdout, "issued %d tickets for event %q (key %s) into %s: tickets.csv, qr/, manifest.json\n",
		len(b.tickets), *event, ticket.KeyIDOf(priv.Public().(ed25519.PublicKey)), *out)
	return exitOK
}

// parseWindow reads -from and -until: both or neither.
func parseWindow(fromStr, untilStr string) (from, until time.Time, err error) {
	if (fromStr == "") != (untilStr == "") {
		return from, until, errors.New("-from and -until go together: give both or neither")
	}
	if fromStr == "" {
		return from, until, nil
	}
	if from, err = time.Parse(time.RFC3339, fromStr); err != nil {
		return from, until, fmt.Errorf("-from: %w", err)
	}
	if until, err = time.Parse(time.RFC3339, untilStr); err != nil {
		return from, until, fmt.Errorf("-until: %w", err)
	}
	if !until.After(from) {
		return from, until, errors.New("-until must be after -from")
	}
	return from, until, nil
}

func readAttendeesFile(path string) ([]attendee, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	rows, err := readAttendees(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rows, nil
}

// issueOpts is what every ticket of a batch shares.
type issueOpts struct {
	event       manifest.Event // id, name, venue and zones; classes are filled in
	zone        string
	from, until time.Time
	now         time.Time // the manifest's issue time
}

// issued is one attendee's ticket.
type issued struct {
	attendee
	ID   string
	Code string
}

// batch is everything issue writes, built in memory before any of it is.
type batch struct {
	tickets  []issued
	manifest []byte // the signed envelope
}

// issueTickets signs a ticket for each row, numbered from 1 in row order, and
// the snapshot manifest that lists them (issuing.Snapshot). Its errors come
// from the input (a window or zone the code format cannot carry, a field a
// manifest refuses).
func issueTickets(priv ed25519.PrivateKey, rows []attendee, o issueOpts) (*batch, error) {
	snap := issuing.Snapshot{Event: o.event, Version: 1, IssuedAt: o.now, Tickets: make([]issuing.Ticket, 0, len(rows))}
	b := &batch{tickets: make([]issued, 0, len(rows))}
	var from, until time.Time // the window as the codes carry it, rounded to minutes
	for i, a := range rows {
		t := issued{attendee: a, ID: strconv.Itoa(i + 1)}
		var err error
		t.Code, err = ticket.Sign(priv, ticket.Claims{Event: o.event.ID, Number: uint64(i + 1), Zone: o.zone, From: o.from, Until: o.until})
		if err != nil {
			return nil, fmt.Errorf("ticket %s (line %d): %w", t.ID, a.Line, err)
		}
		if i == 0 {
			// Read the window back from the first code, which also shows
			// that the key signs codes its own public half verifies.
			p, err := ticket.NewKeyring(priv.Public().(ed25519.PublicKey)).Verify(t.Code)
			if err != nil {
				return nil, fmt.Errorf("ticket 1: self-check: %w", err)
			}
			from, until = p.From, p.Until
		}
		snap.Tickets = append(snap.Tickets, issuing.Ticket{ID: t.ID, Code: t.Code, Holder: a, Zone: o.zone, From: from, Until: until})
		b.tickets = append(b.tickets, t)
	}
	var err error
	if b.manifest, err = snap.Sign(priv); err != nil {
		return nil, err
	}
	return b, nil
}
