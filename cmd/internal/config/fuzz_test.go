package config

import (
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"
)

func FuzzParseBox(f *testing.F) {
	f.Add([]byte(designExample))
	f.Add([]byte(minimal))
	f.Add([]byte(minimal + "devices: {scanner: {driver: camera, command: [cam, '-']}, nfc: {driver: rdm6300, port: p}, thermo: {driver: sim, offset_c: 0.5}}\n"))
	f.Add([]byte(minimal + "staff: {pins: {amy: '" + HashPIN("1") + "'}, cards: ['" + HashCard("04A1") + "'], lockout: 1h}\npolicy: {reentry: false}\n"))
	f.Add([]byte(minimal + "mqtt: {url: 'tls://b:8883', ca: c, cert: c, key: k}\n"))
	f.Add([]byte("box: {id: &n g1, venue: *n, org: *n}\nstate_dir: /s\ntrust: [k]\n"))
	f.Add([]byte("box: [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBox(data)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T, want *Error: %v", err, err)
			}
			return
		}
		// A config that parses is valid as it stands: written back out, it
		// parses again to the same thing (defaults and validation are
		// idempotent).
		out, err := yaml.Marshal(b)
		if err != nil {
			t.Fatalf("marshal %+v: %v", b, err)
		}
		again, err := ParseBox(out)
		if err != nil {
			t.Fatalf("%+v re-parses with %v from\n%s", b, err, out)
		}
		if !reflect.DeepEqual(b, again) {
			t.Fatalf("round trip changed\n%+v\nto\n%+v", b, again)
		}
	})
}

func FuzzParseHQ(f *testing.F) {
	f.Add([]byte(designHQ))
	f.Add([]byte(minimalHQ + "store: {driver: postgres, dsn: x}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHQ(data)
		if err != nil {
			return
		}
		out, err := yaml.Marshal(h)
		if err != nil {
			t.Fatalf("marshal %+v: %v", h, err)
		}
		again, err := ParseHQ(out)
		if err != nil || !reflect.DeepEqual(h, again) {
			t.Fatalf("%+v round-trips to %+v, %v", h, again, err)
		}
	})
}
