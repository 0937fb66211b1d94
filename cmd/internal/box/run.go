package box

import (
	"context"
	"errors"
	"io"
	"time"

	"venuebox/device"
)

// reopenEvery is how often a device that is gone is tried again: a scanner
// plugged back in is reading within this time of its return.
const reopenEvery = time.Second

// OpenScanner opens a scanner; the closer releases what it holds.
type OpenScanner func() (device.Scanner, io.Closer, error)

// ReadScanner decides every code the scanner reads until ctx ends. A
// device that fails or is unplugged is reported down and opened again, so
// the box never exits for it.
func (b *Box) ReadScanner(ctx context.Context, name string, open OpenScanner) {
	b.readDevice(ctx, name, Code, func() (func(context.Context) (string, error), io.Closer, error) {
		s, c, err := open()
		if err != nil {
			return nil, nil, err
		}
		return s.Scan, c, nil
	})
}

// OpenCardReader opens a card reader; the closer releases what it holds.
type OpenCardReader func() (device.CardReader, io.Closer, error)

// ReadCards decides every card the reader reads until ctx ends, as
// ReadScanner does.
func (b *Box) ReadCards(ctx context.Context, name string, open OpenCardReader) {
	b.readDevice(ctx, name, Card, func() (func(context.Context) (string, error), io.Closer, error) {
		r, c, err := open()
		if err != nil {
			return nil, nil, err
		}
		return r.ReadCard, c, nil
	})
}

func (b *Box) readDevice(ctx context.Context, name string, kind Kind, open func() (func(context.Context) (string, error), io.Closer, error)) {
	log := b.log.With("dev", name)
	for ctx.Err() == nil {
		read, closer, err := open()
		if err != nil {
			b.SetDevice(name, "down")
			log.Warn("device not available", "err", err)
			if !sleep(ctx, reopenEvery) {
				return
			}
			continue
		}
		b.SetDevice(name, "up")
		log.Info("device up")
		err = b.readUntilError(ctx, kind, read)
		if closer != nil {
			if cerr := closer.Close(); cerr != nil {
				log.Debug("close", "err", cerr)
			}
		}
		if ctx.Err() != nil {
			return
		}
		b.SetDevice(name, "down")
		log.Warn("device lost", "err", err)
		if !sleep(ctx, reopenEvery/4) {
			return
		}
	}
}

// unreadableEvery bounds how often one device's unreadable input is
// recorded: a device flooding garbage must not fill the store or hold the
// store's write lock the other devices need.
const unreadableEvery = 500 * time.Millisecond

func (b *Box) readUntilError(ctx context.Context, kind Kind, read func(context.Context) (string, error)) error {
	var lastUnreadable time.Time
	dropped := 0
	for {
		input, err := read(ctx)
		switch {
		case errors.Is(err, device.ErrUnreadable):
			if time.Since(lastUnreadable) < unreadableEvery {
				dropped++
				continue
			}
			if dropped > 0 {
				b.log.Warn("unreadable input not recorded: the device sends garbage", "dropped", dropped)
				dropped = 0
			}
			lastUnreadable = time.Now()
			b.Unreadable(input) // recorded and logged inside
			continue
		case err != nil:
			return err
		}
		if _, err := b.Present(ctx, kind, input); err != nil && ctx.Err() == nil {
			// The store is failing: the decision was not recorded and was
			// not shown. Pause rather than spin.
			if !sleep(ctx, 100*time.Millisecond) {
				return ctx.Err()
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
