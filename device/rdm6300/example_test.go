package rdm6300_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"venuebox/device/rdm6300"
	"venuebox/device/serialport"
)

func Example() {
	// The application opens the port and closes it; the driver only reads.
	port, err := serialport.Open("/dev/ttyS0", &serialport.Opts{Baud: 9600, ReadTimeout: 100 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	defer port.Close()

	reader, err := rdm6300.New(port, nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		uid, err := reader.ReadCard(ctx) // once per tap, however long the tag rests
		if err != nil {
			log.Print(err)
			return
		}
		fmt.Println(reader, "read a tag of", len(uid), "hex digits") // the UID itself is a member's identity
	}
}
