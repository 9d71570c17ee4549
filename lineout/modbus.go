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

// Modbus output modes.
const (
	ModePulse = "pulse" // the default: set, hold for the pulse time, reset
	ModeCount = "count" // add one to a holding register per verdict
)

// modbusOut pulses a coil or holding register on a PLC over Modbus TCP,
// or counts verdicts in a holding register.
type modbusOut struct {
	url     string
	unit    uint8
	coil    bool
	count   bool
	addr    uint16
	value   uint16
	pulse   time.Duration
	gap     time.Duration
	timeout time.Duration
	mu      sync.Mutex // held for a whole Send, and by the reset timer
	cl      *modbus.ModbusClient
	// on is a pulse set and not yet reset, due to end at offAt; pulses
	// numbers them so a late reset timer knows its pulse is over; nextAt
	// is when the next may start (the last reset plus the gap).
	on            bool
	offAt, nextAt time.Time
	pulses        uint64
	counted       bool   // n holds the register's value
	n             uint16 // the counter register's value (count mode)
}

func newModbus(c Config) (*modbusOut, error) {
	if !strings.HasPrefix(c.URL, "tcp://") {
		return nil, fmt.Errorf("outputs (%s): url %q: a Modbus TCP output needs tcp://HOST:PORT", c.Name, c.URL)
	}
	if (c.Coil == nil) == (c.Register == nil) {
		return nil, fmt.Errorf("outputs (%s): set exactly one of coil and register", c.Name)
	}
	m := &modbusOut{url: c.URL, unit: 1, value: 1, pulse: duration(c.Pulse, 200*time.Millisecond), timeout: duration(c.Timeout, 2*time.Second)}
	m.gap = duration(c.Gap, m.pulse)
	switch c.Mode {
	case "", ModePulse:
	case ModeCount:
		if c.Register == nil {
			return nil, fmt.Errorf("outputs (%s): mode count needs a holding register (register), not a coil: a coil cannot count", c.Name)
		}
		m.count = true
	default:
		return nil, fmt.Errorf("outputs (%s): mode %q: use pulse or count", c.Name, c.Mode)
	}
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

// Send signals one verdict: a pulse of its own (so a PLC counting rising
// edges counts every reject, however close together they come), or one
// more in the counter register. A pulse returns as soon as the PLC
// acknowledged the set and is reset by a timer, so it runs while the next
// frame is inspected; a verdict arriving during a pulse or the gap after
// it waits its turn in the output's queue (which is bounded: what does not
// fit is counted undelivered).
func (m *modbusOut) Send(ctx context.Context, v *verdict.Verdict) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.count {
		return m.increment()
	}
	if m.on {
		// The reset timer is late (a busy machine) or waiting for the lock
		// held here: end the pulse on time here; the timer, seeing a newer
		// pulse number, then leaves the line alone.
		if err := sleepUntil(ctx, m.offAt); err != nil {
			return err
		}
		m.pulses++
		if err := m.reset(); err != nil {
			return err
		}
	}
	if err := sleepUntil(ctx, m.nextAt); err != nil {
		return err
	}
	if err := m.write(true); err != nil {
		return err
	}
	if m.pulse <= 0 {
		return nil // set only
	}
	m.on, m.offAt = true, time.Now().Add(m.pulse)
	m.pulses++
	n := m.pulses
	time.AfterFunc(m.pulse, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.pulses == n && m.on {
			m.reset()
		}
	})
	return nil
}

// reset ends the current pulse; the next may start after the gap.
func (m *modbusOut) reset() error {
	if err := m.write(false); err != nil {
		return err
	}
	m.on, m.nextAt = false, time.Now().Add(m.gap)
	return nil
}

// increment adds one to the counter register, reading its value first
// after each (re)connect so a PLC's own reset of the counter is honoured.
func (m *modbusOut) increment() error {
	if !m.counted || m.cl == nil {
		if m.cl == nil {
			if err := m.connect(); err != nil {
				return err
			}
		}
		n, err := m.cl.ReadRegister(m.addr, modbus.HOLDING_REGISTER)
		if err != nil {
			m.drop()
			return fmt.Errorf("modbus %s unit %d: read counter %s: %w%s", m.url, m.unit, m.what(), err, hint(err))
		}
		m.n, m.counted = n, true
	}
	m.value = m.n + 1 // what write(true) writes; wraps at 65535, as PLC counters do
	if err := m.write(true); err != nil {
		m.counted = false
		return err
	}
	m.n = m.value
	return nil
}

func (m *modbusOut) drop() {
	if m.cl != nil {
		m.cl.Close()
		m.cl = nil
	}
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
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
		m.drop() // a broken connection: reconnect once
		m.counted = false
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
	if m.on {
		m.pulses++
		m.reset() // leave the line signal reset
	}
	if m.cl != nil {
		return m.cl.Close()
	}
	return nil
}
