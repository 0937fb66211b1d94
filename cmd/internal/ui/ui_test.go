package ui

import (
	"encoding/json"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"venuebox/cmd/internal/gate"
)

func get(t *testing.T, h http.Handler, method, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Result()
}

func TestKiosk_servesTheScreenAndNothingElse(t *testing.T) {
	h := Kiosk()
	for path, ctype := range map[string]string{
		"/":           "text/html; charset=utf-8",
		"/index.html": "text/html; charset=utf-8",
		"/kiosk.js":   "text/javascript; charset=utf-8",
		"/kiosk.css":  "text/css; charset=utf-8",
		"/i18n.json":  "application/json; charset=utf-8",
	} {
		resp := get(t, h, "GET", path)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ctype || len(body) == 0 {
			t.Errorf("GET %s: %d %q, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		for _, k := range []string{"Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "ETag"} {
			if resp.Header.Get(k) == "" {
				t.Errorf("GET %s: no %s", path, k)
			}
		}
		if resp.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q", path, resp.Header.Get("Cache-Control"))
		}
		if again := get(t, h, "GET", path, "If-None-Match", resp.Header.Get("ETag")); again.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d", path, again.StatusCode)
		}
	}
	for _, path := range []string{"/nothing", "/api/unknown", "/../ui.go", "/kiosk/"} {
		if resp := get(t, h, "GET", path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
	if resp := get(t, h, "POST", "/"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /: %d", resp.StatusCode)
	}
}

// words returns i18n.json's tables.
func words(t *testing.T) map[string]map[string]string {
	t.Helper()
	raw, err := fs.ReadFile(KioskFS(), "i18n.json")
	if err != nil {
		t.Fatal(err)
	}
	var w map[string]map[string]string
	if err := json.Unmarshal(raw, &w); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestI18n_everyStringInBothLanguages(t *testing.T) {
	w := words(t)
	zh, en := w["zh"], w["en"]
	if len(w) != 2 || len(zh) == 0 {
		t.Fatalf("languages %v", slices.Sorted(maps.Keys(w)))
	}
	for k, v := range zh {
		if strings.TrimSpace(v) == "" || strings.TrimSpace(en[k]) == "" {
			t.Errorf("%q: zh %q, en %q", k, v, en[k])
		}
	}
	for k := range en {
		if _, ok := zh[k]; !ok {
			t.Errorf("%q is in English only", k)
		}
	}
	// Every reason of the contract, and the box's own (undo), reads as
	// words to attendees and to staff; every verdict has a title.
	for r := range gate.Reasons {
		for _, k := range []string{"reason." + string(r), "log." + string(r)} {
			if _, ok := zh[k]; !ok {
				t.Errorf("no words for %s", k)
			}
		}
	}
	for _, k := range []string{"reason.undo", "log.undo", "reason.other", "log.other", "reason.fever-refused", "log.fever-refused",
		"verdict.admitted", "verdict.rejected", "verdict.held", "short.admitted", "short.rejected", "short.held",
		"dev.scanner", "dev.card-reader", "dev.thermometer"} {
		if _, ok := zh[k]; !ok {
			t.Errorf("no words for %s", k)
		}
	}
	// Every key the page names is there.
	html, _ := fs.ReadFile(KioskFS(), "index.html")
	js, _ := fs.ReadFile(KioskFS(), "kiosk.js")
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`data-i18n(?:-placeholder)?="([^"]+)"`).FindAllStringSubmatch(string(html), -1) {
		used[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`\bt\('([a-zA-Z0-9.\-]+)'`).FindAllStringSubmatch(string(js), -1) {
		used[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`'((?:preset|dialog|act|lookup)\.[a-zA-Z0-9.\-]+)'`).FindAllStringSubmatch(string(js), -1) {
		used[m[1]] = true
	}
	if len(used) < 50 {
		t.Fatalf("found only %d keys in the page: the patterns are stale", len(used))
	}
	for k := range used {
		if strings.HasSuffix(k, ".") {
			continue // a prefix the page completes (verdict., reason., ...): checked above
		}
		if _, ok := zh[k]; !ok {
			t.Errorf("the page uses %q, which i18n.json lacks", k)
		}
	}
}

func TestKiosk_selfContained(t *testing.T) {
	// The box is offline: nothing may come from elsewhere, and data from
	// the box only ever goes into the page as text.
	err := fs.WalkDir(KioskFS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(KioskFS(), p)
		if err != nil {
			return err
		}
		s := string(b)
		for _, bad := range []string{"http://", "https://", "//cdn", "@import", "url(http"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s refers to %q", p, bad)
			}
		}
		if strings.HasSuffix(p, ".js") {
			for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
				if strings.Contains(s, bad) {
					t.Errorf("%s uses %s", p, bad)
				}
			}
		}
		if strings.HasSuffix(p, ".html") && regexp.MustCompile(`<script>|\son[a-z]+=|style="`).MatchString(s) {
			t.Errorf("%s has inline script or style, which the CSP forbids", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
