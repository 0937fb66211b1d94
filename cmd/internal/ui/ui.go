// Package ui holds the screens the daemons serve, as files embedded in the
// binary: no build step, no CDN, nothing fetched at run time, since a box
// at a venue gate is often offline.
//
// The kiosk screen (kiosk/) is what staff and attendees see at the gate,
// full-screen in Chromium: the verdict of each scan, the box's status and
// staff mode. It uses only the box's HTTP API (/api/status, /api/stream,
// /api/scan, /api/staff/...); its words, in Chinese and English, are in
// kiosk/i18n.json.
package ui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed kiosk
var kioskFiles embed.FS

// KioskFS returns the kiosk screen's files.
func KioskFS() fs.FS {
	sub, err := fs.Sub(kioskFiles, "kiosk")
	if err != nil {
		panic(err) // the directory is embedded: it is there
	}
	return sub
}

// csp allows the page its own files and its own API only: no inline
// script, nothing from elsewhere, no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Kiosk serves the kiosk screen's files: / is the screen, the rest its
// assets; anything else is 404. Each answer says not to trust a cached copy
// without asking (an updated box serves its new screen at once) and carries
// an ETag, so asking costs nothing.
func Kiosk() http.Handler {
	return serveFS(KioskFS())
}

func serveFS(files fs.FS) http.Handler {
	etags := map[string]string{}
	fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		etags["/"+p] = `"` + hex.EncodeToString(sum[:8]) + `"`
		return nil
	})
	server := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := path.Clean("/" + r.URL.Path)
		if p == "/" || p == "/index.html" {
			p = "/index.html"
		}
		tag, ok := etags[p]
		if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", tag)
		if strings.HasSuffix(p, ".json") {
			h.Set("Content-Type", "application/json; charset=utf-8")
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = p
		if p == "/index.html" {
			// FileServer redirects /index.html to /; serve the file itself.
			r2.URL.Path = "/"
		}
		server.ServeHTTP(w, r2)
	})
}
