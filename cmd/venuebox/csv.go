package main

import (
	"io"

	"venuebox/cmd/internal/issuing"
)

// The attendee CSV is read by the issuing package, which HQ shares; issue
// takes a file whole or not at all.

type attendee = issuing.Attendee

const (
	maxCSVSize = issuing.MaxCSVSize
	maxRows    = issuing.MaxRows
)

var (
	columnNames = issuing.Columns
	utf8BOM     = issuing.BOM
)

// readAttendees reads an attendee CSV (see issuing.ReadCSV) and returns
// every row validated, or the first problem as an error naming its line.
// The error never quotes a name or phone: it may end up in a log.
func readAttendees(r io.Reader) ([]attendee, error) {
	im, err := issuing.ReadCSV(r)
	if err != nil {
		return nil, err
	}
	if err := im.Err(); err != nil {
		return nil, err
	}
	return im.Rows, nil
}
