package config

import "net/url"

// Enrol lets boxes enrol from a one-time QR that HQ shows (POST
// /api/enrolments): HQ signs each box's own key with the CA below and
// gives it the broker, the CA and the keys to trust.
type Enrol struct {
	Org       string `yaml:"org"`        // the organisation the boxes join, as scripts/provision -org; required
	CACert    string `yaml:"ca_cert"`    // PEM CA certificate (scripts/provision's ca.crt); required
	CAKey     string `yaml:"ca_key"`     // its PEM private key (ca.key), mode 0600; required
	BrokerURL string `yaml:"broker_url"` // the broker as the boxes reach it, tls:// (or ssl://, mqtts://, wss://); required
	// HQURL is HQ's base URL as the boxes reach it, put in the QR; default:
	// the scheme and host the operator's request came to.
	HQURL string `yaml:"hq_url"`
	// Trust are more public key files for the boxes to trust, beside
	// every signing key HQ lists (state_dir/keys).
	Trust []string `yaml:"trust"`
}

func (e *Enrol) validate(path string) *Error {
	if e == nil {
		return nil
	}
	if e := topicLevel(path+".org", e.Org, true); e != nil {
		return e
	}
	if e := fileName(path+".ca_cert", e.CACert, true); e != nil {
		return e
	}
	if e := fileName(path+".ca_key", e.CAKey, true); e != nil {
		return e
	}
	if e.BrokerURL == "" {
		return errorf(path+".broker_url", "required")
	}
	m := MQTT{URL: e.BrokerURL, CA: e.CACert}
	if err := m.validate(path); err != nil {
		err.Path = path + ".broker_url"
		return err
	}
	if !mqttSchemes[mustScheme(e.BrokerURL)] {
		return errorf(path+".broker_url", "not TLS; boxes enrol with a certificate, so use tls://")
	}
	if e.HQURL != "" {
		u, err := url.Parse(e.HQURL)
		if err != nil || hasControl(e.HQURL) || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil || len(e.HQURL) > 100 {
			return errorf(path+".hq_url", "%s is not a base URL such as https://hq.example.com (at most 100 bytes)", quote(e.HQURL))
		}
	}
	for i, f := range e.Trust {
		if e := fileName(path+".trust["+itoa(i)+"]", f, true); e != nil {
			return e
		}
	}
	return nil
}

func mustScheme(s string) string {
	u, _ := url.Parse(s) // validated before
	return u.Scheme
}

func (e *Enrol) resolve(dir string) {
	if e == nil {
		return
	}
	e.CACert = resolve(dir, e.CACert)
	e.CAKey = resolve(dir, e.CAKey)
	for i := range e.Trust {
		e.Trust[i] = resolve(dir, e.Trust[i])
	}
}
