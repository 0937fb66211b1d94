package box

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"testing"
	"time"

	"venuebox/cmd/internal/ticket"
	"venuebox/device"
	"venuebox/device/camera"
)

// TestCamera_ticketShownToTheCamera renders a real ticket's QR with the
// ticket package, puts it into 640x480 camera frames, streams them as
// MJPEG through a pipe into the camera driver and the box: 30 frames of
// one code shown are one admission, not thirty.
func TestCamera_ticketShownToTheCamera(t *testing.T) {
	f := newFixture(t, defaultPolicy())
	pngBytes, err := ticket.EncodePNG(f.codes[6], 240)
	if err != nil {
		t.Fatal(err)
	}
	qr, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatal(err)
	}
	frame := image.NewRGBA(image.Rect(0, 0, 640, 480))
	draw.Draw(frame, frame.Bounds(), image.NewUniform(color.Gray{Y: 170}), image.Point{}, draw.Src)
	draw.Draw(frame, image.Rect(200, 120, 440, 360), qr, qr.Bounds().Min, draw.Src)
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, frame, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	cam, err := camera.New(pr, nil)
	if err != nil {
		t.Fatal(err)
	}
	verdicts := f.box.stream.subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.box.ReadScanner(ctx, "camera", func() (device.Scanner, io.Closer, error) { return cam, nil, nil })
	}()
	go func() {
		for range 30 {
			if _, err := pw.Write(jpg.Bytes()); err != nil {
				return
			}
			time.Sleep(33 * time.Millisecond) // 30 frames a second
		}
	}()
	var got []Verdict
	timeout := time.After(20 * time.Second)
	for len(got) == 0 {
		select {
		case data := <-verdicts:
			var v Verdict
			json.Unmarshal(data, &v)
			got = append(got, v)
		case <-timeout:
			t.Fatal("the camera's code was never decided")
		}
	}
	// The frames keep coming for up to a second more: no second verdict.
	quiet := time.After(1500 * time.Millisecond)
	for waiting := true; waiting; {
		select {
		case data := <-verdicts:
			var v Verdict
			json.Unmarshal(data, &v)
			got = append(got, v)
		case <-quiet:
			waiting = false
		}
	}
	cancel()
	pw.Close()
	<-done
	if len(got) != 1 || got[0].Verdict != "admitted" || got[0].Ticket != "7" {
		t.Fatalf("verdicts %+v, want one admission of ticket 7", got)
	}
	if q, _ := f.store.Queued(); q != 1 {
		t.Fatalf("%d check-ins recorded for one code shown", q)
	}
}
