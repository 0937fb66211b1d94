package config

import (
	"fmt"
	"strings"
)

// Error is a problem with a configuration, usually with one of its keys.
type Error struct {
	File    string // the config file, when read by LoadBox or LoadHQ
	Line    int    // 1-based line of the key (or of its nearest parent); 0 if unknown
	Path    string // key path such as "devices.scanner.baud"; "" for the whole file
	Problem string // what is wrong, e.g. "12 is not a standard rate"
}

// Error returns "config: <key path>: <problem>", followed by the file and
// line in parentheses when they are known.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Problem)
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, " (%s:%d)", e.File, e.Line)
	case e.File != "":
		fmt.Fprintf(&b, " (%s)", e.File)
	case e.Line > 0:
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	return b.String()
}

// errorf returns an *Error for the key at path.
func errorf(path, format string, args ...any) *Error {
	return &Error{Path: path, Problem: fmt.Sprintf(format, args...)}
}

// locate sets e.Line from the lines that decode recorded: the line of the
// key itself or, for a key that is missing, of its nearest parent.
func (e *Error) locate(lines map[string]int) {
	if e.Line != 0 {
		return
	}
	for p := e.Path; p != ""; p = parent(p) {
		if l, ok := lines[p]; ok {
			e.Line = l
			return
		}
	}
}

// parent returns the path of the key that holds path: "a.b" for "a.b.c" and
// "a.b" for "a.b[2]", "" at the top.
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}
