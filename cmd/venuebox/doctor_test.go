package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDoctor(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	head := "box: {id: gate-1, venue: v, org: o}\nstate_dir: state\ntrust: [signing.pub]\n"
	simulated := write("sim.yaml", head+"devices:\n  scanner: {driver: sim}\n  nfc: {driver: sim}\n  thermo: {driver: sim}\n")
	missing := write("missing.yaml", head+"devices:\n  scanner: {driver: serial, port: "+filepath.Join(dir, "no-such-tty")+"}\n"+
		"  nfc: {driver: pn532, port: "+filepath.Join(dir, "no-such-uart")+"}\n  thermo: {driver: sim}\n")
	none := write("none.yaml", head)

	for _, tc := range []struct {
		config string
		code   int
		want   []string
	}{
		{simulated, exitOK, []string{"scanner      ok: sim found", "card-reader  ok: sim found", "thermometer  ok: sim{thermo 36.5°C} reads 36.5 °C"}},
		{missing, exitFail, []string{"scanner      FAIL: serialport: open " + filepath.Join(dir, "no-such-tty"), "card-reader  FAIL: serialport: open", "thermometer  ok"}},
		{none, exitOK, []string{"devices      none configured"}},
	} {
		var out, errOut strings.Builder
		code := run([]string{"doctor", "-config", tc.config}, &out, &errOut)
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d (%s%s)", filepath.Base(tc.config), code, tc.code, out.String(), errOut.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: output lacks %q:\n%s", filepath.Base(tc.config), w, out.String())
			}
		}
	}
	var out, errOut strings.Builder
	if code := run([]string{"doctor"}, &out, &errOut); code != exitUsage || strings.Count(errOut.String(), "\n") != 1 {
		t.Errorf("no -config: exit %d, stderr %q", code, errOut.String())
	}
	if code := run([]string{"doctor", "-config", write("bad.yaml", "box: [")}, &out, &errOut); code != exitUsage {
		t.Errorf("bad config: exit %d", code)
	}
}
