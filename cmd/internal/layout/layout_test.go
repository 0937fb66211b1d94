package layout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	module   = "venuebox"
	paho     = "github.com/eclipse/paho.mqtt.golang"
	bbolt    = "go.etcd.io/bbolt"
	mqttconn = "venuebox/sync/mqttconn"
	gate     = "venuebox/cmd/internal/gate"
	ticket   = "venuebox/cmd/internal/ticket"
)

// pkg is what the rules need from `go list -json`.
type pkg struct {
	ImportPath   string
	Name         string
	Standard     bool
	DepOnly      bool
	Imports      []string
	Deps         []string
	TestImports  []string
	XTestImports []string
}

// under reports whether path is root or a package below it.
func under(path, root string) bool {
	return path == root || strings.HasPrefix(path, root+"/")
}

// gateForbidden lists the standard library packages that do I/O or reach the
// outside world. time stays allowed: gate.Decide takes now as a value.
var gateForbidden = []string{"net", "os", "log", "io/fs", "io/ioutil", "syscall", "database"}

// layerRule forbids packages under from depending (directly or not) on any
// package under one of the roots in not.
type layerRule struct {
	from string
	not  []string
}

var layerRules = []layerRule{
	{"venuebox/device", []string{"venuebox/cmd", "venuebox/store", "venuebox/sync", paho, bbolt}},
	{"venuebox/store", []string{"venuebox/cmd", "venuebox/sync", "venuebox/device"}},
	{"venuebox/sync", []string{"venuebox/cmd"}},
}

// check returns one line per violation in the graph pkgs (the module's
// packages and everything they depend on, keyed by import path). Rules on
// layers follow non-test dependencies, which is what ships; the paho rule
// also looks at test files, since no test but mqttconn's should drive the
// broker around the wrapper.
func check(pkgs map[string]*pkg) []string {
	var bad []string
	paths := make([]string, 0, len(pkgs))
	for p := range pkgs {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, path := range paths {
		p := pkgs[path]
		if !under(path, module) {
			continue
		}
		for _, r := range layerRules {
			if !under(path, r.from) {
				continue
			}
			for _, n := range r.not {
				if d, ok := firstUnder(p, n); ok {
					bad = append(bad, fmt.Sprintf("%s imports %s%s: %s must not depend on %s",
						path, d, via(pkgs, path, d), r.from, n))
				}
			}
		}
		if path != mqttconn {
			for _, list := range []struct {
				what string
				imps []string
			}{{"", p.Imports}, {" (in its tests)", p.TestImports}, {" (in its external tests)", p.XTestImports}} {
				for _, imp := range list.imps {
					if under(imp, paho) {
						bad = append(bad, fmt.Sprintf("%s imports %s%s: only %s may import paho", path, imp, list.what, mqttconn))
					}
				}
			}
		}
		if under(path, "venuebox/sync") && (p.Name == "sync" || path == "venuebox/sync") {
			bad = append(bad, fmt.Sprintf("%s is package %s: a package named sync shadows the standard library", path, p.Name))
		}
	}
	if g, ok := pkgs[gate]; ok {
		bad = append(bad, checkGate(pkgs, g)...)
	}
	return bad
}

// checkGate holds gate to its promise of no I/O: its own imports are the
// standard library, minus the packages that reach outside, and ticket (the
// type it decides on). Deps are not followed: time itself imports syscall.
func checkGate(pkgs map[string]*pkg, g *pkg) []string {
	var bad []string
	for _, imp := range g.Imports {
		if imp == ticket {
			continue
		}
		d, ok := pkgs[imp]
		if !ok || !d.Standard {
			bad = append(bad, fmt.Sprintf("%s imports %s: gate may import only the standard library and %s", gate, imp, ticket))
			continue
		}
		for _, f := range gateForbidden {
			if under(imp, f) {
				bad = append(bad, fmt.Sprintf("%s imports %s: gate decides without I/O (no %s)", gate, imp, f))
			}
		}
	}
	return bad
}

// firstUnder returns the dependency of p under root to report: one p
// imports itself if there is one, else the first in p.Deps.
func firstUnder(p *pkg, root string) (string, bool) {
	for _, list := range [][]string{p.Imports, p.Deps} {
		if i := slices.IndexFunc(list, func(d string) bool { return under(d, root) }); i >= 0 {
			return list[i], true
		}
	}
	return "", false
}

// via names the module package through which from reaches the
// dependency to, when from does not import it itself.
func via(pkgs map[string]*pkg, from, to string) string {
	p := pkgs[from]
	if slices.Contains(p.Imports, to) {
		return ""
	}
	for _, imp := range p.Imports {
		if d, ok := pkgs[imp]; ok && (imp == to || slices.Contains(d.Deps, to)) {
			return " (through " + imp + ")"
		}
	}
	return " (indirectly)"
}

// list runs `go list -e -deps -json ./...` at the module root.
func list(t *testing.T) map[string]*pkg {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd := exec.Command("go", "list", "-e", "-deps", "-json", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list in %s: %v\n%s", root, err, stderr.Bytes())
	}
	pkgs := map[string]*pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(pkg)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs[p.ImportPath] = p
	}
	if _, ok := pkgs["venuebox/device"]; !ok {
		t.Fatalf("go list in %s did not list venuebox/device: wrong directory?", root)
	}
	return pkgs
}

func TestLayering(t *testing.T) {
	pkgs := list(t)
	if _, ok := pkgs[gate]; !ok {
		t.Logf("%s does not exist yet; its rule is skipped", gate)
	}
	for _, v := range check(pkgs) {
		t.Error(v)
	}
}

// TestRules proves each rule fires, on a made-up graph, so that a check that
// has quietly stopped matching anything does not pass for a clean layout.
func TestRules(t *testing.T) {
	std := func(path string) *pkg { return &pkg{ImportPath: path, Standard: true} }
	graph := func(extra ...*pkg) map[string]*pkg {
		m := map[string]*pkg{}
		for _, p := range []*pkg{
			std("errors"), std("time"), std("os"), std("net/http"), std("log/slog"), std("database/sql"),
			{ImportPath: paho}, {ImportPath: bbolt},
			{ImportPath: ticket, Name: "ticket"},
			{ImportPath: "venuebox/cmd/internal/box", Name: "box"},
			{ImportPath: "venuebox/store/boxstore", Name: "boxstore", Imports: []string{bbolt}, Deps: []string{bbolt}},
			{ImportPath: "venuebox/sync/wire", Name: "wire"},
			{ImportPath: mqttconn, Name: "mqttconn", Imports: []string{paho}, Deps: []string{paho}},
		} {
			m[p.ImportPath] = p
		}
		for _, p := range extra {
			m[p.ImportPath] = p
		}
		return m
	}
	tests := []struct {
		name string
		pkg  *pkg
		want string // a substring of one of the violations; "" for none
	}{
		{"clean gate", &pkg{ImportPath: gate, Imports: []string{"errors", "time", ticket}}, ""},
		{"clean sync", &pkg{ImportPath: "venuebox/sync/hqsync", Imports: []string{"venuebox/store/boxstore", mqttconn},
			Deps: []string{"venuebox/store/boxstore", mqttconn, bbolt, paho}}, ""},
		{"device to cmd", &pkg{ImportPath: "venuebox/device/pn532", Imports: []string{"venuebox/cmd/internal/box"},
			Deps: []string{"venuebox/cmd/internal/box"}}, "venuebox/device/pn532 imports venuebox/cmd/internal/box"},
		{"store to cmd", &pkg{ImportPath: "venuebox/store/x", Imports: []string{ticket}, Deps: []string{ticket}},
			"venuebox/store/x imports venuebox/cmd/internal/ticket"},
		{"sync to cmd", &pkg{ImportPath: "venuebox/sync/boxsync", Imports: []string{ticket}, Deps: []string{ticket}},
			"venuebox/sync/boxsync imports venuebox/cmd/internal/ticket"},
		{"device to bbolt through store", &pkg{ImportPath: "venuebox/device/sim", Imports: []string{"venuebox/store/boxstore"},
			Deps: []string{"venuebox/store/boxstore", bbolt}}, "imports go.etcd.io/bbolt (through venuebox/store/boxstore)"},
		{"device to paho", &pkg{ImportPath: "venuebox/device/sim", Imports: []string{mqttconn},
			Deps: []string{mqttconn, paho}}, "venuebox/device/sim imports github.com/eclipse/paho.mqtt.golang (through venuebox/sync/mqttconn)"},
		{"device to sync", &pkg{ImportPath: "venuebox/device/sim", Imports: []string{"venuebox/sync/wire"},
			Deps: []string{"venuebox/sync/wire"}}, "venuebox/device/sim imports venuebox/sync/wire"},
		{"store to sync", &pkg{ImportPath: "venuebox/store/y", Imports: []string{"venuebox/sync/wire"},
			Deps: []string{"venuebox/sync/wire"}}, "venuebox/store/y imports venuebox/sync/wire"},
		{"store to device", &pkg{ImportPath: "venuebox/store/y", Imports: []string{"venuebox/device"},
			Deps: []string{"venuebox/device"}}, "venuebox/store/y imports venuebox/device"},
		{"paho outside mqttconn", &pkg{ImportPath: "venuebox/cmd/internal/hq", Imports: []string{paho}, Deps: []string{paho}},
			"venuebox/cmd/internal/hq imports github.com/eclipse/paho.mqtt.golang: only"},
		{"paho in a test", &pkg{ImportPath: "venuebox/sync/boxsync", TestImports: []string{paho}},
			"imports github.com/eclipse/paho.mqtt.golang (in its tests)"},
		{"package sync", &pkg{ImportPath: "venuebox/sync/sync", Name: "sync"}, "is package sync"},
		{"gate to os", &pkg{ImportPath: gate, Imports: []string{"os", ticket}}, "venuebox/cmd/internal/gate imports os"},
		{"gate to net/http", &pkg{ImportPath: gate, Imports: []string{"net/http"}}, "imports net/http"},
		{"gate to slog", &pkg{ImportPath: gate, Imports: []string{"log/slog"}}, "imports log/slog"},
		{"gate to database", &pkg{ImportPath: gate, Imports: []string{"database/sql"}}, "imports database/sql"},
		{"gate to bbolt", &pkg{ImportPath: gate, Imports: []string{bbolt}}, "venuebox/cmd/internal/gate imports go.etcd.io/bbolt"},
		{"gate to store", &pkg{ImportPath: gate, Imports: []string{"venuebox/store/boxstore"}}, "imports venuebox/store/boxstore"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := check(graph(tt.pkg))
			if tt.want == "" {
				if len(got) != 0 {
					t.Errorf("violations on a clean graph: %q", got)
				}
				return
			}
			if !slices.ContainsFunc(got, func(v string) bool { return strings.Contains(v, tt.want) }) {
				t.Errorf("violations %q; want one containing %q", got, tt.want)
			}
		})
	}
}
