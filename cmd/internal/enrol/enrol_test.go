package enrol

import (
	"strings"
	"testing"
)

func TestQR(t *testing.T) {
	b := Bundle{Org: "acme", Venue: "v", Box: "b", BrokerURL: "tls://x:8883", CACert: "ca", Trust: []string{"k"}}
	token, pin := strings.Repeat("ab", TokenBytes), b.Pin()
	text := QR("https://hq.example.com/", token, pin)
	if text != Prefix+"https://hq.example.com#"+token+"."+pin {
		t.Fatal(text)
	}
	u, tk, p, err := ParseQR(" " + text + "\r\n")
	if err != nil || u != "https://hq.example.com" || tk != token || p != pin {
		t.Fatalf("%q %q %q %v", u, tk, p, err)
	}
	b.Trust = append(b.Trust, "k2")
	if b.Pin() == pin {
		t.Error("pin ignores the trust list")
	}
	for _, bad := range []string{
		"hello", Prefix + "https://hq#" + token, Prefix + "https://hq#" + token + "." + pin[1:],
		Prefix + "ftp://hq#" + token + "." + pin, Prefix + "https://u@hq#" + token + "." + pin,
		Prefix + "https://hq#" + strings.ToUpper(token) + "." + pin, Prefix + "#" + token + "." + pin,
	} {
		if _, _, _, err := ParseQR(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
