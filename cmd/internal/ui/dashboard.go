package ui

import (
	"embed"
	"io/fs"
	"net/http"
)

// The HQ dashboard (hq/) is what the event team at HQ sees: per event,
// admitted against expected, check-ins over time, gates, no-shows, VIP
// arrivals, fever holds, staff actions, rejections and conflicts; the
// fleet with each box's audit chain; the attendee list (masked unless a
// supervisor signs in and asks) and the CSV import. It uses HQ's HTTP API
// only; its words, in Chinese and English, are in hq/i18n.json.

//go:embed hq
var hqFiles embed.FS

// DashboardFS returns the HQ dashboard's files.
func DashboardFS() fs.FS {
	sub, err := fs.Sub(hqFiles, "hq")
	if err != nil {
		panic(err) // the directory is embedded: it is there
	}
	return sub
}

// Dashboard serves the HQ dashboard's files as Kiosk serves the kiosk's.
func Dashboard() http.Handler {
	return serveFS(DashboardFS())
}
