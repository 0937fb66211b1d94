package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// maxTopicLevel caps ids that become MQTT topic levels.
const maxTopicLevel = 64

// topicLevel checks an id that becomes one level of an MQTT topic: 1 to 64
// bytes of A-Z, a-z, 0-9, '.', '_' and '-', so never a topic separator or
// wildcard (/ + #), never a '$' system topic, and never "." or "..", which
// would be path elements if the id ever names a file.
func topicLevel(path, s string, required bool) *Error {
	switch {
	case s == "":
		if required {
			return errorf(path, "required")
		}
		return nil
	case len(s) > maxTopicLevel:
		return errorf(path, "longer than %d bytes", maxTopicLevel)
	case s == "." || s == "..":
		return errorf(path, "%q is not a name", s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return errorf(path, "%s has %q; use only A-Z a-z 0-9 . _ -", quote(s), r)
		}
	}
	return nil
}

// fileName checks a file or directory name: present if required, and free
// of control characters (which no sane file name has, and which would garble
// the logs that print it).
func fileName(path, s string, required bool) *Error {
	switch {
	case s == "":
		if required {
			return errorf(path, "required")
		}
	case hasControl(s):
		return errorf(path, "%s has control characters", quote(s))
	}
	return nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

// listen checks a host:port to listen on. The port is a number (0 picks a
// free one); the host is empty (every interface), an IP address or a name.
func listen(path, s string) *Error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errorf(path, "%s is not host:port", quote(s))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return errorf(path, "port %s is not a number within 0..65535", quote(port))
	}
	if host != "" && net.ParseIP(host) == nil && !hostName(host) {
		return errorf(path, "host %s is neither an IP address nor a host name", quote(host))
	}
	return nil
}

// hostName reports whether s is a plausible DNS name.
func hostName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// duration checks a duration that defaults when zero: not negative and at
// most max.
func duration(path string, d, max time.Duration) *Error {
	switch {
	case d < 0:
		return errorf(path, "%v is negative", d)
	case d > max:
		return errorf(path, "%v is longer than %v", d, max)
	}
	return nil
}

// MQTT schemes and whether each is TLS.
var mqttSchemes = map[string]bool{
	"tcp": false, "mqtt": false, "ws": false,
	"tls": true, "ssl": true, "mqtts": true, "wss": true,
}

// validate checks the broker URL and the TLS files. The URL is never echoed
// in an error: it may carry a password.
func (m *MQTT) validate(path string) *Error {
	for _, f := range []struct{ key, v string }{{"ca", m.CA}, {"cert", m.Cert}, {"key", m.Key}} {
		if e := fileName(path+"."+f.key, f.v, false); e != nil {
			return e
		}
	}
	if (m.Cert == "") != (m.Key == "") {
		if m.Cert == "" {
			return errorf(path+".cert", "required with key (give both or neither)")
		}
		return errorf(path+".key", "required with cert (give both or neither)")
	}
	if m.URL == "" {
		return nil // no broker: the TLS files, if any, are unused
	}
	key := path + ".url"
	if hasControl(m.URL) {
		return errorf(key, "has control characters")
	}
	u, err := url.Parse(m.URL)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return errorf(key, "not a URL such as tcp://broker:1883")
	}
	tls, ok := mqttSchemes[u.Scheme]
	if !ok {
		return errorf(key, "scheme %s is not one of tcp, mqtt, ws, tls, ssl, mqtts, wss", quote(u.Scheme))
	}
	if u.Hostname() == "" {
		return errorf(key, "no broker host")
	}
	web := u.Scheme == "ws" || u.Scheme == "wss"
	switch port := u.Port(); {
	case port == "" && !web:
		return errorf(key, "no port (1883 is usual for tcp, 8883 for TLS)")
	case port != "":
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return errorf(key, "port is not a number within 1..65535")
		}
	}
	if !web && u.Path != "" && u.Path != "/" {
		return errorf(key, "a %s URL has no path", u.Scheme)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errorf(key, "has a query or fragment")
	}
	if tls {
		if m.CA == "" {
			return errorf(path+".ca", "required with %s://", u.Scheme)
		}
		return nil
	}
	for _, f := range []struct{ key, v string }{{"ca", m.CA}, {"cert", m.Cert}} {
		if f.v != "" {
			return errorf(path+"."+f.key, "set, but %s:// is not TLS; use tls:// or leave it out", u.Scheme)
		}
	}
	return nil
}

func (m *MQTT) resolve(dir string) {
	m.CA = resolve(dir, m.CA)
	m.Cert = resolve(dir, m.Cert)
	m.Key = resolve(dir, m.Key)
}

// readFile reads a config file of at most maxFileSize bytes and returns it
// with the absolute directory that holds it.
func readFile(path string) (data []byte, dir string, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, "", fmt.Errorf("config: %w", err)
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, "", fmt.Errorf("config: %w", err)
	}
	defer f.Close() // read-only: a close error loses nothing
	data, err = io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, "", fmt.Errorf("config: read %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, "", &Error{File: path, Problem: fmt.Sprintf("file is larger than %d bytes", maxFileSize)}
	}
	return data, filepath.Dir(abs), nil
}

// inFile records the file an *Error came from.
func inFile(err error, path string) error {
	var e *Error
	if errors.As(err, &e) {
		e.File = path
	}
	return err
}

// resolve makes a relative file name relative to dir; "" stays "".
func resolve(dir, name string) string {
	if name == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(dir, name)
}

// quote quotes a value for an error message, shortened if long.
func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strconv.Quote(s)
}

func itoa(i int) string { return strconv.Itoa(i) }
