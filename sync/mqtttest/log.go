package mqtttest

import "os"

// Log returns what the broker has logged so far, across restarts. A test
// that adds "log_type debug" to Options.Config can follow each PUBLISH and
// PUBACK in it, for instance to know that a subscriber's handler has run:
// paho acknowledges a QoS 1 message when its handler returns.
func (b *Broker) Log() string {
	raw, err := os.ReadFile(b.log)
	if err != nil {
		return "" // not started yet
	}
	return string(raw)
}
