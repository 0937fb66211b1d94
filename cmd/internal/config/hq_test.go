package config

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"
)

// designHQ is the HQ configuration of DESIGN.md §3, verbatim.
const designHQ = `state_dir: /var/lib/venuebox-hq
http: {listen: 127.0.0.1:8090}
mqtt: {url: tcp://127.0.0.1:1883}
signing_key: /etc/venuebox-hq/signing.key
token_file: /etc/venuebox-hq/token          # bearer token for writing endpoints
store: {driver: bbolt}                      # or {driver: postgres, dsn: ...} for replicas
`

// minimalHQ is the smallest valid HQ configuration, three lines.
const minimalHQ = `state_dir: /s
signing_key: k
token_file: t
`

func TestParseHQ_designExample(t *testing.T) {
	h, err := ParseHQ([]byte(designHQ))
	if err != nil {
		t.Fatal(err)
	}
	want := &HQ{
		StateDir:   "/var/lib/venuebox-hq",
		HTTP:       HTTP{Listen: "127.0.0.1:8090"},
		MQTT:       MQTT{URL: "tcp://127.0.0.1:1883"},
		SigningKey: "/etc/venuebox-hq/signing.key",
		TokenFile:  "/etc/venuebox-hq/token",
		Store:      Store{Driver: "bbolt"},
	}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("got\n%+v\nwant\n%+v", h, want)
	}
}

func TestParseHQ_defaults(t *testing.T) {
	h, err := ParseHQ([]byte(minimalHQ))
	if err != nil {
		t.Fatal(err)
	}
	want := &HQ{StateDir: "/s", HTTP: HTTP{Listen: "127.0.0.1:8090"}, SigningKey: "k", TokenFile: "t", Store: Store{Driver: StoreBbolt}}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("got\n%+v\nwant\n%+v", h, want)
	}
	h, err = ParseHQ([]byte(minimalHQ + "store: {driver: postgres, dsn: 'postgres://hq@db/venuebox'}\n"))
	if err != nil || h.Store != (Store{Driver: StorePostgres, DSN: "postgres://hq@db/venuebox"}) {
		t.Errorf("postgres: %+v, %v", h, err)
	}
}

func TestParseHQ_errors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"empty", "", "config: file is empty"},
		{"box key", minimalHQ + "box: {id: g}\n", "config: box: unknown key (line 4)"},
		{"typo", minimalHQ + "singing_key: k\n", `config: singing_key: unknown key, did you mean "signing_key"? (line 4)`},
		{"no state_dir", "signing_key: k\ntoken_file: t\n", "config: state_dir: required"},
		{"no signing_key", "state_dir: /s\ntoken_file: t\n", "config: signing_key: required"},
		{"no token_file", "state_dir: /s\nsigning_key: k\n", "config: token_file: required"},
		{"listen", minimalHQ + "http: {listen: '8090'}\n", `config: http.listen: "8090" is not host:port (line 4)`},
		{"mqtt", minimalHQ + "mqtt: {url: 'tls://b:8883'}\n", "config: mqtt.ca: required with tls:// (line 4)"},
		{"driver", minimalHQ + "store: {driver: sqlite}\n", `config: store.driver: "sqlite" is not a driver; want bbolt or postgres (line 4)`},
		{"postgres no dsn", minimalHQ + "store: {driver: postgres}\n", "config: store.dsn: required with driver postgres (line 4)"},
		{"bbolt dsn", minimalHQ + "store: {dsn: 'postgres://u:secret@db/x'}\n", "config: store.dsn: only for driver postgres (line 4)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseHQ([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("parsed: %+v", h)
			}
			if err.Error() != tc.want {
				t.Errorf("got  %s\nwant %s", err, tc.want)
			}
		})
	}
}

func TestLoadHQ_resolvesRelativeNames(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "venuebox-hq.yaml")
	writeFile(t, path, `state_dir: state
signing_key: keys/signing.key
token_file: /etc/venuebox-hq/token
mqtt: {url: 'mqtts://b:8883', ca: ca.pem, cert: hq.pem, key: hq.key}
`)
	h, err := LoadHQ(path)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{h.StateDir, h.SigningKey, h.TokenFile, h.MQTT.CA, h.MQTT.Cert, h.MQTT.Key}
	want := []string{
		filepath.Join(dir, "state"), filepath.Join(dir, "keys/signing.key"), "/etc/venuebox-hq/token",
		filepath.Join(dir, "ca.pem"), filepath.Join(dir, "hq.pem"), filepath.Join(dir, "hq.key"),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}

	writeFile(t, path, minimalHQ+"store: {driver: postgres}\n")
	_, err = LoadHQ(path)
	var e *Error
	if !errors.As(err, &e) || e.File != path || e.Path != "store.dsn" || e.Line != 4 {
		t.Errorf("got %v", err)
	}
}
