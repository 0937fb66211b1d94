package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxFileSize caps a config file. Real ones are a few KiB.
const maxFileSize = 1 << 20

// maxNodes caps the YAML nodes that decode visits, counting every expansion
// of an alias, so that a small file of nested aliases cannot make it work
// for ever.
const maxNodes = 100_000

var durationType = reflect.TypeFor[time.Duration]()

// decode parses data, a single YAML document, into v, a pointer to a config
// struct. Before the struct is decoded (with KnownFields, so unknown keys are
// refused there too), the document is walked against v's type, which gives
// every unknown or repeated key and every value of the wrong kind a key path
// and a line. decode returns the line of every key it saw, by path, so that
// later validation errors can say where they are.
func decode(data []byte, v any) (map[string]int, error) {
	if len(data) > maxFileSize {
		return nil, &Error{Problem: fmt.Sprintf("file is larger than %d bytes", maxFileSize)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{Problem: "file is empty"}
		}
		return nil, syntaxError(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxError(err)
	default:
		return nil, &Error{Line: next.Line, Problem: "more than one YAML document"}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, &Error{Problem: "file is empty"}
		}
		root = root.Content[0]
	}
	if isNull(root) {
		return nil, &Error{Problem: "file is empty"}
	}

	w := walker{lines: map[string]int{}, budget: maxNodes}
	if e := w.walk(root, reflect.TypeOf(v).Elem(), ""); e != nil {
		return nil, e
	}

	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(v); err != nil {
		// The walk accepts only what this decode accepts, so this is a
		// limit of the YAML library (excessive aliasing, say).
		return nil, decodeError(err)
	}
	return w.lines, nil
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// syntaxError turns a parse error of the YAML library into an *Error. The
// library's line for a syntax error is sometimes that of the construct
// around the mistake rather than of the mistake, hence "near".
func syntaxError(err error) *Error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		return &Error{Problem: fmt.Sprintf("YAML syntax error near line %s: %s", m[1], m[2])}
	}
	return &Error{Problem: "YAML syntax error: " + strings.TrimPrefix(msg, "yaml: ")}
}

// decodeError turns an error of the YAML library's typed decode into an
// *Error, keeping its first problem and the line of it.
func decodeError(err error) *Error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1]) // the pattern admits digits only; an overflow leaves no line
		return &Error{Line: line, Problem: m[2]}
	}
	return &Error{Problem: strings.TrimPrefix(msg, "yaml: ")}
}

// walker checks a YAML tree against a Go type the way yaml.v3 decodes it.
type walker struct {
	lines  map[string]int
	budget int
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) *Error {
	if w.budget--; w.budget < 0 {
		return &Error{Path: path, Line: n.Line, Problem: "too many values (aliases expand too far)"}
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return &Error{Path: path, Line: n.Line, Problem: "alias to nothing"}
		}
		return w.walk(n.Alias, t, path)
	}
	if isNull(n) {
		return nil // the zero value, or nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.walk(n, t.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return w.wrongKind(n, "a mapping of keys", path)
		}
		fields := yamlFields(t)
		return w.mapping(n, path, func(key string) (reflect.Type, string, bool) {
			ft, ok := fields[key]
			if !ok {
				return nil, unknownKey(key, fields), false
			}
			return ft, "", true
		})
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return w.wrongKind(n, "a mapping of keys", path)
		}
		return w.mapping(n, path, func(string) (reflect.Type, string, bool) { return t.Elem(), "", true })
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return w.wrongKind(n, "a list", path)
		}
		for i, el := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			w.lines[p] = el.Line
			if e := w.walk(el, t.Elem(), p); e != nil {
				return e
			}
		}
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return w.wrongKind(n, describe(t), path)
	}
	// yaml.v3 truncates a fraction into an integer field (2.5 becomes 2);
	// take whole numbers only.
	if isInt(t) && n.ShortTag() != "!!int" {
		return w.wrongKind(n, describe(t), path)
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		if t.Kind() == reflect.String {
			// Only a !!binary value can fail here; it may be a secret,
			// so it is not repeated.
			return &Error{Path: path, Line: n.Line, Problem: "!!binary value is not valid base64"}
		}
		return w.wrongKind(n, describe(t), path)
	}
	return nil
}

func isInt(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return t != durationType
	}
	return false
}

// mapping walks the pairs of a mapping node; field returns the type of a
// key's value, or the problem with the key.
func (w *walker) mapping(n *yaml.Node, path string, field func(string) (reflect.Type, string, bool)) *Error {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return &Error{Path: path, Line: k.Line, Problem: "a key must be a plain word"}
		}
		if k.ShortTag() == "!!merge" {
			return &Error{Path: path, Line: k.Line, Problem: "merge keys (<<) are not supported"}
		}
		p := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			return &Error{Path: p, Line: k.Line, Problem: fmt.Sprintf("repeated key (first at line %d)", first)}
		}
		seen[k.Value] = k.Line
		ft, problem, ok := field(k.Value)
		if !ok {
			return &Error{Path: p, Line: k.Line, Problem: problem}
		}
		w.lines[p] = k.Line
		if e := w.walk(v, ft, p); e != nil {
			return e
		}
	}
	return nil
}

func (w *walker) wrongKind(n *yaml.Node, want, path string) *Error {
	var got string
	switch n.Kind {
	case yaml.MappingNode:
		got = "a mapping"
	case yaml.SequenceNode:
		got = "a list"
	default:
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		got = strconv.Quote(v)
	}
	return &Error{Path: path, Line: n.Line, Problem: fmt.Sprintf("want %s, got %s", want, got)}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// yamlFields maps the YAML keys of a struct's exported fields to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := make(map[string]reflect.Type, t.NumField())
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

// describe says in words what kind of value a leaf type takes.
func describe(t reflect.Type) string {
	if t == durationType {
		return `a duration such as "3s" or "5m"`
	}
	if isInt(t) {
		return "a whole number"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}

// unknownKey describes an unknown key, suggesting a known one that is one
// typo away (two for longer keys).
func unknownKey(key string, fields map[string]reflect.Type) string {
	best, bestDist := "", 0
	for name := range fields {
		d := typos(key, name)
		if d == 0 || d > 2 || d == 2 && len(name) < 6 {
			continue
		}
		if best == "" || d < bestDist || d == bestDist && name < best {
			best, bestDist = name, d
		}
	}
	if best == "" {
		return "unknown key"
	}
	return fmt.Sprintf("unknown key, did you mean %q?", best)
}

// typos is the optimal string alignment distance between two short keys:
// the fewest insertions, deletions, substitutions and swaps of neighbours
// that turn a into b.
func typos(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64 // not a typo of a key this package knows
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// join appends a key to a path, quoting a key that is not a plain word so
// that the path stays one readable line.
func join(path, key string) string {
	if !plainKey(key) {
		if len(key) > 64 {
			key = key[:64] + "..."
		}
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func plainKey(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
