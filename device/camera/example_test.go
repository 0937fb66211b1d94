package camera_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os/signal"
	"syscall"

	"venuebox/device"
	"venuebox/device/camera"
)

// A Raspberry Pi camera module, 640x480 MJPEG at 15 frames a second.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	d, err := camera.Start(ctx, []string{
		"rpicam-vid", "-t", "0", "-n", "--codec", "mjpeg",
		"--width", "640", "--height", "480", "--framerate", "15", "-o", "-",
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Halt() // stops rpicam-vid
	for {
		code, err := d.Scan(ctx)
		if errors.Is(err, device.ErrUnreadable) {
			continue // recorded as an unreadable scan
		}
		if err != nil {
			log.Fatal(err) // the camera is gone, or ctx ended
		}
		fmt.Println(len(code), "characters") // a code is a bearer secret: never log it
	}
}
