package ui

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"regexp"
	"testing"
)

func TestDashboard_servesItsFilesWithTheirHeaders(t *testing.T) {
	h := Dashboard()
	for _, p := range []string{"/", "/hq.js", "/hq.css", "/i18n.json", "/sheet.css"} {
		resp := get(t, h, "GET", p)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || len(body) == 0 || resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: %d, %d bytes", p, resp.StatusCode, len(body))
		}
	}
	if resp := get(t, h, "GET", "/nothing"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing: %d", resp.StatusCode)
	}
}

// TestDashboard_everyWordInBothLanguages: each key the page and script use
// is in i18n.json in Chinese and English, and both tables hold the same keys.
func TestDashboard_everyWordInBothLanguages(t *testing.T) {
	raw, err := fs.ReadFile(DashboardFS(), "i18n.json")
	if err != nil {
		t.Fatal(err)
	}
	var w map[string]map[string]string
	if err := json.Unmarshal(raw, &w); err != nil {
		t.Fatal(err)
	}
	for k := range w["zh"] {
		if _, ok := w["en"][k]; !ok {
			t.Errorf("%s: no English", k)
		}
	}
	for k := range w["en"] {
		if _, ok := w["zh"][k]; !ok {
			t.Errorf("%s: no Chinese", k)
		}
	}
	html, _ := fs.ReadFile(DashboardFS(), "index.html")
	js, _ := fs.ReadFile(DashboardFS(), "hq.js")
	used := regexp.MustCompile(`data-i18n(?:-placeholder)?="([^"]+)"`).FindAllSubmatch(html, -1)
	used = append(used, regexp.MustCompile(`\bt\('([a-zA-Z.]*[a-zA-Z])'`).FindAllSubmatch(js, -1)...)
	for _, m := range used {
		if _, ok := w["zh"][string(m[1])]; !ok {
			t.Errorf("%s is used but not in i18n.json", m[1])
		}
	}
}
