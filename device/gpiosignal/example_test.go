package gpiosignal_test

import (
	"log"

	"venuebox/device/gpiosignal"
)

// Driving a gate's lights, buzzer and turnstile on a Raspberry Pi. Open
// initialises the host, so it runs in main, not in an init function.
func Example() {
	pins, err := gpiosignal.Open(gpiosignal.Names{Green: "GPIO17", Red: "GPIO27", Buzzer: "GPIO22", Relay: "GPIO23"})
	if err != nil {
		log.Fatal(err)
	}
	sig, err := gpiosignal.New(pins, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer sig.Halt() // every output low: lights off, turnstile locked

	sig.Show(gpiosignal.Admitted) // returns at once; the pattern plays on
}
