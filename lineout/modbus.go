package lineout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/simonvetter/modbus"

	"github.com/vise-edge/vise/verdict"
)

// modbusOut pulses a coil or holding register on a PLC over Modbus TCP.
type modbusOut struct {
	url      string
	unit     uint8
	coil     bool
	addr     uint16
	value    uint16
	pulse    time.Duration
	timeout  time.Duration
	mu       sync.Mutex
	cl       *modbus.ModbusClient
	resetter *time.Timer
}

func newModbus(c Config) (*modbusOut, error) {
	if !strings.HasPrefix(c.URL, "tcp://") {
		return nil, fmt.Errorf("outputs (%s): url %q: a Modbus TCP output needs tcp://HOST:PORT", c.Name, c.URL)
	}
	if (c.Coil == nil) == (c.Register == nil) {
		return nil, fmt.Errorf("outputs (%s): set exactly one of coil and register", c.Name)
	}
	m := &modbusOut{url: c.URL, unit: 1, value: 1, pulse: duration(c.Pulse, 200*time.Millisecond), timeout: duration(c.Timeout, 2*time.Second)}
	addr := c.Register
	if c.Coil != nil {
		m.coil, addr = true, c.Coil
	}
	if *addr < 0 || *addr > 0xFFFF {
		return nil, fmt.Errorf("outputs (%s): address %d is not 0-65535", c.Name, *addr)
	}
	m.addr = uint16(*addr)
	if c.Unit != nil {
		m.unit = uint8(*c.Unit)
	}
	if c.Value != nil {
		m.value = uint16(*c.Value)
	}
	return m, nil
}

func (m *modbusOut) what() string {
	if m.coil {
		return fmt.Sprintf("coil %d", m.addr)
	}
	return fmt.Sprintf("holding register %d", m.addr)
}

// Send sets the coil/register and schedules its reset after the pulse
// time, returning as soon as the PLC acknowledged the set: the pulse runs
// while the next frame is inspected.
func (m *modbusOut) Send(ctx context.Context, v *verdict.Verdict) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.resetter != nil {
		m.resetter.Stop() // a new pulse restarts the time rather than cutting it
	}
	if err := m.write(true); err != nil {
		return err
	}
	if m.pulse > 0 {
		m.resetter = time.AfterFunc(m.pulse, func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.write(false)
		})
	}
	return nil
}

// write sets (on) or resets the target, connecting first if needed and
// once more if the connection broke.
func (m *modbusOut) write(on bool) error {
	var err error
	for attempt := range 2 {
		if m.cl == nil {
			if err = m.connect(); err != nil {
				return err
			}
		}
		if m.coil {
			err = m.cl.WriteCoil(m.addr, on)
		} else {
			val := uint16(0)
			if on {
				val = m.value
			}
			err = m.cl.WriteRegister(m.addr, val)
		}
		if err == nil || isException(err) || attempt == 1 {
			break
		}
		m.cl.Close() // a broken connection: reconnect once
		m.cl = nil
	}
	if err != nil {
		return fmt.Errorf("modbus %s unit %d: write %s: %w%s", m.url, m.unit, m.what(), err, hint(err))
	}
	return nil
}

func (m *modbusOut) connect() error {
	cl, err := modbus.NewClient(&modbus.ClientConfiguration{URL: m.url, Timeout: m.timeout})
	if err == nil {
		err = cl.Open()
	}
	if err != nil {
		return fmt.Errorf("modbus %s: connect: %w", m.url, err)
	}
	cl.SetUnitId(m.unit)
	m.cl = cl
	return nil
}

// isException is an answer from the PLC (it refused), not a broken link.
func isException(err error) bool {
	for _, e := range []error{modbus.ErrIllegalFunction, modbus.ErrIllegalDataAddress, modbus.ErrIllegalDataValue, modbus.ErrServerDeviceFailure} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func hint(err error) string {
	switch {
	case errors.Is(err, modbus.ErrIllegalDataAddress):
		return " (the PLC has no such address: check coil/register in the output's configuration)"
	case errors.Is(err, modbus.ErrIllegalFunction):
		return " (the PLC refuses this write: check whether it is a coil or a holding register)"
	}
	return ""
}

func (m *modbusOut) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.resetter != nil && m.resetter.Stop() {
		m.write(false) // leave the line signal reset
	}
	if m.cl != nil {
		return m.cl.Close()
	}
	return nil
}
