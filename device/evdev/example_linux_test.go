package evdev_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"venuebox/device"
	"venuebox/device/evdev"
)

// A scanner in keyboard mode, grabbed so its keys never reach the screen.
func Example() {
	node, err := evdev.Open("/dev/input/by-id/usb-Newland_Scanner-event-kbd")
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close() // the application owns the node, and releases the grab
	d, err := evdev.New(node, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Halt()
	for {
		code, err := d.Scan(context.Background())
		if errors.Is(err, device.ErrUnreadable) {
			continue // recorded as an unreadable scan
		}
		if err != nil {
			log.Fatal(err) // unplugged: open it again
		}
		fmt.Println(len(code), "characters") // a code is a bearer secret: never log it
	}
}
