package config

import (
	"strings"
	"testing"
)

func TestHQEnrol(t *testing.T) {
	base := "state_dir: s\nsigning_key: k\ntoken_file: t\n"
	h, err := ParseHQ([]byte(base + "enrol:\n  org: acme\n  ca_cert: ca.crt\n  ca_key: ca.key\n  broker_url: tls://b:8883\n  trust: [x.pub]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if h.Enrol == nil || h.Enrol.Org != "acme" || h.Enrol.BrokerURL != "tls://b:8883" || len(h.Enrol.Trust) != 1 {
		t.Fatalf("%+v", h.Enrol)
	}
	if h, err := ParseHQ([]byte(base)); err != nil || h.Enrol != nil {
		t.Fatalf("without enrol: %v %+v", err, h)
	}
	for _, c := range []struct{ yaml, want string }{
		{"  ca_cert: c\n  ca_key: k\n  broker_url: tls://b:1\n", "enrol.org: required"},
		{"  org: a/b\n  ca_cert: c\n  ca_key: k\n  broker_url: tls://b:1\n", "enrol.org"},
		{"  org: a\n  ca_key: k\n  broker_url: tls://b:1\n", "enrol.ca_cert: required"},
		{"  org: a\n  ca_cert: c\n  broker_url: tls://b:1\n", "enrol.ca_key: required"},
		{"  org: a\n  ca_cert: c\n  ca_key: k\n", "enrol.broker_url: required"},
		{"  org: a\n  ca_cert: c\n  ca_key: k\n  broker_url: tcp://b:1\n", "not TLS"},
		{"  org: a\n  ca_cert: c\n  ca_key: k\n  broker_url: tls://b:1\n  hq_url: ftp://x\n", "enrol.hq_url"},
		{"  org: a\n  ca_cert: c\n  ca_key: k\n  broker_url: tls://b:1\n  hq_url: http://x/#f\n", "enrol.hq_url"},
		{"  org: a\n  ca_cert: c\n  ca_key: k\n  broker_url: tls://b:1\n  bogus: 1\n", "bogus"},
	} {
		_, err := ParseHQ([]byte(base + "enrol:\n" + c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.yaml, err, c.want)
		}
	}
}
