package pn532

import (
	"context"
	"errors"
	"fmt"
	"time"

	"venuebox/device/internal/portio"
)

// errExpired is what next returns once its deadline has passed.
var errExpired = errors.New("deadline passed")

// call runs one command as UM0701-02 §6.2.2 describes the dialogue: the
// host sends the command frame, the PN532 acknowledges it with an ACK
// frame, then sends its response, whose code is the command's plus one.
// It returns the response's data after that code, valid until the next
// call.
func (d *Dev) call(ctx context.Context, cmd byte, params ...byte) ([]byte, error) {
	b, err := d.exchange(ctx, cmd, params)
	if err != nil {
		return nil, d.fail(ctx, cmdNames[cmd], err)
	}
	return b, nil
}

func (d *Dev) exchange(ctx context.Context, cmd byte, params []byte) ([]byte, error) {
	if !d.awake {
		if _, err := d.rw.Write(wakeUp); err != nil {
			return nil, err
		}
		d.awake = true
	}
	d.r, d.w = 0, 0 // whatever came before this command is stale
	d.tx = appendFrame(d.tx[:0], tfiHost, append([]byte{cmd}, params...))
	if _, err := d.rw.Write(d.tx); err != nil {
		return nil, err
	}
	if err := d.waitAck(ctx); err != nil {
		return nil, err
	}
	return d.waitResponse(ctx, cmd)
}

// fail words err for command name. When ctx ended or the time ran out,
// the PN532 may still be at work: an ACK from the host aborts it
// (§6.2.1.3), so that the next command finds it listening.
func (d *Dev) fail(ctx context.Context, name string, err error) error {
	if ctx.Err() != nil || errors.Is(err, ErrNoAck) || errors.Is(err, ErrNoResponse) {
		if _, werr := d.rw.Write(ackFrame); werr != nil {
			d.log.Debug("abort", "err", werr) // the command failed already
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("pn532: %s: %w", name, err)
}

// waitAck reads until the ACK for the command just sent.
func (d *Dev) waitAck(ctx context.Context) error {
	deadline := d.clk.Now().Add(d.o.AckTimeout)
	for {
		f, err := d.next(ctx, deadline)
		switch {
		case errors.Is(err, errExpired):
			return fmt.Errorf("%w within %v", ErrNoAck, d.o.AckTimeout)
		case errors.Is(err, errLength), errors.Is(err, errChecksum):
			d.log.Debug("damaged frame dropped while waiting for ACK", "err", err)
			continue
		case err != nil:
			return err
		}
		switch f.kind {
		case ackKind:
			return nil
		case errorFrame:
			return ErrSyntax
		}
		// A response to an earlier command that was given up on. Its
		// bytes stay out of the log: they may hold a card's UID.
		d.log.Debug("stale frame dropped while waiting for ACK", "kind", f.kind, "len", len(f.data))
	}
}

// waitResponse reads until the response to cmd, asking again with a NACK
// (§6.2.1.4) for each damaged frame, up to Opts.Retries times.
func (d *Dev) waitResponse(ctx context.Context, cmd byte) ([]byte, error) {
	deadline := d.clk.Now().Add(d.o.ResponseTimeout)
	nacks := 0
	for {
		f, err := d.next(ctx, deadline)
		switch {
		case errors.Is(err, errExpired):
			return nil, fmt.Errorf("%w within %v", ErrNoResponse, d.o.ResponseTimeout)
		case errors.Is(err, errLength), errors.Is(err, errChecksum):
			if nacks == d.o.Retries {
				return nil, fmt.Errorf("%w: %w after %d NACKs", ErrCorrupt, err, nacks)
			}
			nacks++
			d.log.Debug("damaged response, NACK sent", "err", err, "nacks", nacks)
			if _, err := d.rw.Write(nackFrame); err != nil {
				return nil, err
			}
			deadline = d.clk.Now().Add(d.o.ResponseTimeout)
			continue
		case err != nil:
			return nil, err
		}
		switch {
		case f.kind == errorFrame:
			return nil, ErrSyntax
		case f.kind == infoFrame && f.tfi == tfiPN532 && len(f.data) > 0 && f.data[0] == cmd+1:
			return f.data[1:], nil
		}
		d.log.Debug("unexpected frame dropped", "kind", f.kind, "tfi", f.tfi, "len", len(f.data))
	}
}

// next returns the next frame from the port, or parse's error for a
// damaged one, or errExpired once the clock has passed deadline.
func (d *Dev) next(ctx context.Context, deadline time.Time) (frame, error) {
	for {
		if d.clk.Now().After(deadline) {
			return frame{}, errExpired
		}
		f, n, err := parse(d.buf[d.r:d.w])
		d.r += n
		if !errors.Is(err, errShort) {
			return f, err
		}
		// What is left starts a frame no longer than maxFrame, so there
		// is always room to read into.
		d.w = copy(d.buf[:], d.buf[d.r:d.w])
		d.r = 0
		m, err := portio.Read(ctx, d.rw, d.buf[d.w:])
		d.w += m
		if err != nil {
			if ctx.Err() != nil {
				return frame{}, ctx.Err()
			}
			if !portio.IsTimeout(err) {
				return frame{}, err
			}
		}
	}
}
