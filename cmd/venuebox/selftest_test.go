package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestSelftest_passesAndCleansUp(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run([]string{"selftest", "-dir", dir}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var oks []string
	for _, l := range lines {
		if strings.HasPrefix(l, "ok ") {
			oks = append(oks, strings.Fields(l)[1])
		}
	}
	if strings.Join(oks, " ") != "keys store decision reopen" || !strings.HasSuffix(out.String(), "all 4 checks passed\n") {
		t.Errorf("output:\n%s", out.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left %d entries in -dir", len(entries))
	}
}

func TestSelftest_failsWhereItCannotWrite(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"selftest", "-dir", "/nonexistent/venuebox"}, &out, &errb); code != 1 {
		t.Errorf("exit %d, want 1\n%s%s", code, out.String(), errb.String())
	}
	if code := run([]string{"selftest", "extra"}, &out, &errb); code != 2 {
		t.Errorf("an argument: exit %d, want 2", code)
	}
}
