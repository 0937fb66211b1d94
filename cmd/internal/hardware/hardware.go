// Package hardware opens the devices a box configuration names, with the
// drivers under device/: it is the one place that turns "serial on
// /dev/ttyACM0 at 115200" into a port and a driver. The box daemon reads
// through what it returns; `venuebox doctor` probes the same devices.
//
// Devices that can be unplugged (serial and USB) come as openers, called
// again each time the device is lost, so the caller reopens them; the
// thermometer and the signal outputs are opened once.
package hardware

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/host/v3"

	"venuebox/cmd/internal/config"
	"venuebox/device"
	"venuebox/device/camera"
	"venuebox/device/evdev"
	"venuebox/device/gpiosignal"
	"venuebox/device/mlx90614"
	"venuebox/device/pn532"
	"venuebox/device/rdm6300"
	"venuebox/device/serialport"
	"venuebox/device/serialscan"
	"venuebox/device/sim"
)

// An Opener opens a device; the closer releases what it holds (nil when
// there is nothing to release).
type Opener[T any] func() (T, io.Closer, error)

// halter stops a driver and returns its device to an inert state.
type halter interface{ Halt() error }

// closeAll halts the driver, then closes the port under it.
type closeAll struct {
	dev  halter
	port io.Closer
}

func (c closeAll) Close() error {
	return errors.Join(c.dev.Halt(), c.port.Close())
}

// Scanner returns how to open the configured QR scanner; simulated is the
// scanner a "sim" driver delivers from. ctx bounds a camera command.
func Scanner(ctx context.Context, c *config.Scanner, simulated *sim.Scanner, log *slog.Logger) (Opener[device.Scanner], error) {
	switch c.Driver {
	case config.ScannerSim:
		return func() (device.Scanner, io.Closer, error) { return simulated, nil, nil }, nil
	case config.ScannerSerial:
		suffix, err := serialscan.ParseSuffix(c.Suffix)
		if err != nil {
			return nil, fmt.Errorf("hardware: scanner: %w", err)
		}
		return func() (device.Scanner, io.Closer, error) {
			port, err := serialport.Open(c.Port, &serialport.Opts{Baud: c.Baud})
			if err != nil {
				return nil, nil, err
			}
			o := serialscan.DefaultOpts
			o.Suffix, o.Logger = suffix, log
			d, err := serialscan.New(port, &o)
			if err != nil {
				port.Close()
				return nil, nil, err
			}
			return d, closeAll{d, port}, nil
		}, nil
	case config.ScannerEvdev:
		return func() (device.Scanner, io.Closer, error) {
			d, node, err := openEvdev(c.Device, log)
			if err != nil {
				return nil, nil, err
			}
			return d, closeAll{d, node}, nil
		}, nil
	case config.ScannerCamera:
		return func() (device.Scanner, io.Closer, error) {
			o := camera.DefaultOpts
			o.Logger = log
			d, err := camera.Start(ctx, c.Command, &o)
			if err != nil {
				return nil, nil, err
			}
			return d, haltCloser{d}, nil
		}, nil
	}
	return nil, fmt.Errorf("hardware: scanner driver %q unknown", c.Driver)
}

// CardReader returns how to open the configured card reader.
func CardReader(c *config.NFC, simulated *sim.Scanner, log *slog.Logger) (Opener[device.CardReader], error) {
	switch c.Driver {
	case config.NFCSim:
		return func() (device.CardReader, io.Closer, error) { return simulated, nil, nil }, nil
	case config.NFCPN532:
		return func() (device.CardReader, io.Closer, error) {
			port, err := serialport.Open(c.Port, &serialport.Opts{Baud: c.Baud})
			if err != nil {
				return nil, nil, err
			}
			o := pn532.DefaultOpts
			o.Logger = log
			d, err := pn532.New(port, &o)
			if err != nil {
				port.Close()
				return nil, nil, err
			}
			return d, closeAll{d, port}, nil
		}, nil
	case config.NFCRDM6300:
		return func() (device.CardReader, io.Closer, error) {
			port, err := serialport.Open(c.Port, &serialport.Opts{Baud: 9600})
			if err != nil {
				return nil, nil, err
			}
			o := rdm6300.DefaultOpts
			o.Logger = log
			d, err := rdm6300.New(port, &o)
			if err != nil {
				port.Close()
				return nil, nil, err
			}
			return d, closeAll{d, port}, nil
		}, nil
	case config.NFCEvdev:
		return func() (device.CardReader, io.Closer, error) {
			d, node, err := openEvdev(c.Device, log)
			if err != nil {
				return nil, nil, err
			}
			return d, closeAll{d, node}, nil
		}, nil
	}
	return nil, fmt.Errorf("hardware: card reader driver %q unknown", c.Driver)
}

func openEvdev(path string, log *slog.Logger) (*evdev.Dev, *evdev.Node, error) {
	node, err := evdev.Open(path)
	if err != nil {
		return nil, nil, err
	}
	o := evdev.DefaultOpts
	o.Logger = log
	d, err := evdev.New(node, &o)
	if err != nil {
		node.Close()
		return nil, nil, err
	}
	return d, node, nil
}

// haltCloser closes a driver that owns what it reads (a camera command).
type haltCloser struct{ dev halter }

func (h haltCloser) Close() error { return h.dev.Halt() }

// Thermometer opens the configured thermometer; the closer halts it and
// closes its bus.
func Thermometer(c *config.Thermo, log *slog.Logger) (device.Thermometer, io.Closer, error) {
	switch c.Driver {
	case config.ThermoSim:
		return sim.NewThermometer(36.5), nil, nil
	case config.ThermoMLX90614:
		if _, err := host.Init(); err != nil {
			return nil, nil, fmt.Errorf("hardware: thermometer: host: %w", err)
		}
		bus, err := i2creg.Open(c.Bus)
		if err != nil {
			return nil, nil, fmt.Errorf("hardware: thermometer: %w", err)
		}
		o := mlx90614.DefaultOpts
		o.Addr, o.OffsetC, o.Samples = uint16(c.Addr), c.OffsetC, c.Samples
		d, err := mlx90614.New(bus, &o)
		if err != nil {
			bus.Close()
			return nil, nil, fmt.Errorf("hardware: thermometer: %w", err)
		}
		return d, closeAll{d, bus}, nil
	}
	return nil, nil, fmt.Errorf("hardware: thermometer driver %q unknown", c.Driver)
}

// Signal opens the configured signal outputs on the host's GPIO pins.
func Signal(c *config.Signal, log *slog.Logger) (*gpiosignal.Dev, error) {
	pins, err := gpiosignal.Open(gpiosignal.Names{Green: c.Green, Red: c.Red, Buzzer: c.Buzzer, Relay: c.Relay})
	if err != nil {
		return nil, fmt.Errorf("hardware: signal: %w", err)
	}
	o := gpiosignal.DefaultOpts
	o.Logger = log
	d, err := gpiosignal.New(pins, &o)
	if err != nil {
		return nil, fmt.Errorf("hardware: signal: %w", err)
	}
	return d, nil
}
