package gpiosignal

import (
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// TestShow_onPeriphTestPins drives periph's own fake pins (gpiotest.Pin):
// an admission lights green and pulses the relay, a rejection lights red,
// and Halt leaves every pin low.
func TestShow_onPeriphTestPins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := newFakeClock()
		pins := map[string]*gpiotest.Pin{}
		for _, n := range []string{"GPIO17", "GPIO27", "GPIO22", "GPIO23"} {
			pins[n] = &gpiotest.Pin{N: n, L: gpio.Low}
		}
		o := DefaultOpts
		o.Clock = clk
		d, err := New(Pins{Green: pins["GPIO17"], Red: pins["GPIO27"], Buzzer: pins["GPIO22"], Relay: pins["GPIO23"]}, &o)
		if err != nil {
			t.Fatal(err)
		}
		level := func(n string) gpio.Level { return pins[n].Read() }
		d.Show(Admitted)
		synctest.Wait()
		if level("GPIO17") != gpio.High || level("GPIO23") != gpio.High || level("GPIO27") != gpio.Low {
			t.Fatalf("admitted: green %v relay %v red %v", level("GPIO17"), level("GPIO23"), level("GPIO27"))
		}
		clk.advance(o.Relay)
		synctest.Wait()
		if level("GPIO23") != gpio.Low {
			t.Fatal("the relay pulse did not end")
		}
		d.Show(Rejected)
		synctest.Wait()
		if level("GPIO27") != gpio.High || level("GPIO17") != gpio.Low {
			t.Fatalf("rejected: red %v green %v", level("GPIO27"), level("GPIO17"))
		}
		clk.advance(time.Second)
		if err := d.Halt(); err != nil {
			t.Fatal(err)
		}
		for n := range pins {
			if level(n) != gpio.Low {
				t.Errorf("%s %v after Halt", n, level(n))
			}
		}
	})
}
