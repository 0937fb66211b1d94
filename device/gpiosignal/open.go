package gpiosignal

import (
	"fmt"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"
)

// Names name the gate's output pins as periph knows them: "GPIO17" is BCM
// GPIO 17 (header pin 11 on a Raspberry Pi). An empty name is not fitted.
type Names struct {
	Green, Red, Buzzer, Relay string
}

// Open initialises periph's host drivers and looks the named pins up. It
// needs the host: on a Raspberry Pi, the GPIO character devices
// (/dev/gpiochip*) and the rights to use them (root or the gpio group). It
// fails on a name the host does not have, and on a pin named twice.
func Open(names Names) (Pins, error) {
	if _, err := host.Init(); err != nil {
		return Pins{}, fmt.Errorf("gpiosignal: open: init host: %w", err)
	}
	return lookup(names, gpioreg.ByName)
}

// lookup resolves names with byName.
func lookup(names Names, byName func(string) gpio.PinIO) (Pins, error) {
	var pins Pins
	seen := map[string]Output{}
	for _, n := range []struct {
		o    Output
		name string
		pin  *gpio.PinOut
	}{
		{Green, names.Green, &pins.Green},
		{Red, names.Red, &pins.Red},
		{Buzzer, names.Buzzer, &pins.Buzzer},
		{Relay, names.Relay, &pins.Relay},
	} {
		if n.name == "" {
			continue
		}
		p := byName(n.name)
		if p == nil {
			return Pins{}, fmt.Errorf("gpiosignal: open: %s: no pin named %q on this host", n.o, n.name)
		}
		under := p
		if r, ok := p.(gpio.RealPin); ok { // an alias such as P1_11
			under = r.Real()
		}
		if o, ok := seen[under.Name()]; ok {
			return Pins{}, fmt.Errorf("gpiosignal: open: %s: pin %s is already the %s", n.o, under.Name(), o)
		}
		seen[under.Name()] = n.o
		*n.pin = p
	}
	return pins, nil
}
