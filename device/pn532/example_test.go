package pn532_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"venuebox/device/pn532"
	"venuebox/device/serialport"
)

func Example() {
	// The application opens the port and closes it; the driver only uses it.
	port, err := serialport.Open("/dev/ttyAMA0", &serialport.Opts{Baud: 115200, ReadTimeout: 100 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	defer port.Close()

	reader, err := pn532.New(port, nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	fw, err := reader.FirmwareVersion(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reader, fw) // pn532{/dev/ttyAMA0} PN532 v1.6 (14443A 14443B 18092)

	uid, err := reader.ReadCard(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("a card with a %d-byte UID\n", len(uid)/2) // the UID itself is a member's identity
	if err := reader.Halt(); err != nil {
		log.Print(err)
	}
}
