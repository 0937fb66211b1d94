package mlx90614_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/host/v3"

	"venuebox/device/mlx90614"
)

// Reading the thermometer of a gate on the Raspberry Pi's I2C bus 1. The
// application opens the bus, and closes it after the driver is halted.
func Example() {
	if _, err := host.Init(); err != nil {
		log.Fatal(err)
	}
	bus, err := i2creg.Open("/dev/i2c-1")
	if err != nil {
		log.Fatal(err)
	}
	defer bus.Close()

	opts := mlx90614.DefaultOpts
	opts.OffsetC = 0.6 // measured against a reference at installation
	d, err := mlx90614.New(bus, &opts)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Halt()

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	c, err := d.Temperature(ctx)
	if err != nil {
		log.Fatal(err)
	}
	// A high reading asks staff for a second check; it refuses nobody.
	fmt.Printf("%s: %.1f °C\n", d, c)
}
