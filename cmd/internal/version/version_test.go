package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	got := String("venueboxd")
	want := "venueboxd " + Version + " (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	if !strings.HasPrefix(got, want) || !strings.HasSuffix(got, ")") {
		t.Errorf("String = %q, want it to start with %q", got, want)
	}
}
