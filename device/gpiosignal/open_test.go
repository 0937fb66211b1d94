package gpiosignal

import (
	"testing"

	"periph.io/x/conn/v3/gpio"
)

// hostPin is a pin as a host registers it; only its name matters here.
type hostPin struct {
	gpio.PinIO // gpio.INVALID: fails every use
	name       string
}

func (p *hostPin) Name() string { return p.name }

// alias stands for a pin reached by another name, as gpioreg's aliases do.
type alias struct {
	gpio.PinIO
	name string
}

func (a *alias) Name() string     { return a.name }
func (a *alias) Real() gpio.PinIO { return a.PinIO }

func TestLookup(t *testing.T) {
	g17 := &hostPin{gpio.INVALID, "GPIO17"}
	g23 := &hostPin{gpio.INVALID, "GPIO23"}
	host := map[string]gpio.PinIO{"GPIO17": g17, "GPIO23": g23, "P1_11": &alias{g17, "P1_11"}}
	byName := func(n string) gpio.PinIO {
		if p, ok := host[n]; ok {
			return p
		}
		return nil
	}

	pins, err := lookup(Names{Green: "GPIO17", Relay: "GPIO23"}, byName)
	if err != nil {
		t.Fatal(err)
	}
	if pins.Green != g17 || pins.Relay != g23 || pins.Red != nil || pins.Buzzer != nil {
		t.Errorf("lookup = %+v", pins)
	}

	for _, tt := range []struct {
		names Names
		want  string
	}{
		{Names{Green: "GPIO17", Red: "GPIO99"}, `gpiosignal: open: red: no pin named "GPIO99" on this host`},
		{Names{Green: "GPIO17", Relay: "GPIO17"}, "gpiosignal: open: relay: pin GPIO17 is already the green"},
		{Names{Green: "GPIO17", Buzzer: "P1_11"}, "gpiosignal: open: buzzer: pin GPIO17 is already the green"},
	} {
		if _, err := lookup(tt.names, byName); err == nil || err.Error() != tt.want {
			t.Errorf("lookup(%+v) = %v, want %q", tt.names, err, tt.want)
		}
	}
}
