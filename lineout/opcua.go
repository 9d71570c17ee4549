package lineout

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"

	"github.com/vise-edge/vise/verdict"
)

// opcuaOut writes a Boolean or integer node on the line's OPC UA server:
// true (or Value) on a verdict, false (or 0) after the pulse.
type opcuaOut struct {
	endpoint string
	node     *ua.NodeID
	value    int
	pulse    time.Duration
	timeout  time.Duration
	mu       sync.Mutex
	cl       *opcua.Client
	typ      ua.TypeID // the node's value type, read on connect
	resetter *time.Timer
}

func newOPCUA(c Config) (*opcuaOut, error) {
	if !strings.HasPrefix(c.URL, "opc.tcp://") {
		return nil, fmt.Errorf("outputs (%s): url %q: an OPC UA output needs opc.tcp://HOST:PORT", c.Name, c.URL)
	}
	node, err := ua.ParseNodeID(c.Node)
	if err == nil && (c.Node == "" || node == nil) {
		err = fmt.Errorf("no node given")
	}
	if err != nil {
		return nil, fmt.Errorf("outputs (%s): node %q: %w (write it as ns=2;s=Line3.Reject)", c.Name, c.Node, err)
	}
	o := &opcuaOut{endpoint: c.URL, node: node, value: 1, pulse: duration(c.Pulse, 200*time.Millisecond), timeout: duration(c.Timeout, 2*time.Second)}
	if c.Value != nil {
		o.value = *c.Value
	}
	return o, nil
}

func (o *opcuaOut) Send(ctx context.Context, v *verdict.Verdict) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.resetter != nil {
		o.resetter.Stop()
	}
	if err := o.write(ctx, true); err != nil {
		return err
	}
	if o.pulse > 0 {
		o.resetter = time.AfterFunc(o.pulse, func() {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.write(context.Background(), false)
		})
	}
	return nil
}

func (o *opcuaOut) write(ctx context.Context, on bool) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if o.cl == nil {
		if err := o.connect(ctx); err != nil {
			return err
		}
	}
	val, err := o.variant(on)
	if err != nil {
		return err
	}
	resp, err := o.cl.Write(ctx, &ua.WriteRequest{NodesToWrite: []*ua.WriteValue{{NodeID: o.node, AttributeID: ua.AttributeIDValue,
		Value: &ua.DataValue{EncodingMask: ua.DataValueValue, Value: val}}}})
	if err == nil && len(resp.Results) > 0 && resp.Results[0] != ua.StatusOK {
		err = resp.Results[0]
	}
	if err != nil {
		o.drop()
		return fmt.Errorf("opcua %s: write %s: %w", o.endpoint, o.node, err)
	}
	return nil
}

// connect opens a session and reads the node's value to learn its type:
// the write must carry exactly that type.
func (o *opcuaOut) connect(ctx context.Context) error {
	cl, err := opcua.NewClient(o.endpoint, opcua.SecurityMode(ua.MessageSecurityModeNone), opcua.AutoReconnect(false))
	if err != nil {
		return fmt.Errorf("opcua %s: %w", o.endpoint, err)
	}
	if err := cl.Connect(ctx); err != nil {
		return fmt.Errorf("opcua %s: connect: %w", o.endpoint, err)
	}
	resp, err := cl.Read(ctx, &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{{NodeID: o.node, AttributeID: ua.AttributeIDValue}}})
	if err == nil && (len(resp.Results) == 0 || resp.Results[0].Status != ua.StatusOK) {
		err = fmt.Errorf("no value")
		if len(resp.Results) > 0 {
			err = resp.Results[0].Status
		}
	}
	if err != nil {
		cl.Close(ctx)
		return fmt.Errorf("opcua %s: read node %s: %w", o.endpoint, o.node, err)
	}
	o.cl, o.typ = cl, ua.TypeIDNull
	if v := resp.Results[0].Value; v != nil {
		o.typ = v.Type()
	}
	return nil
}

// variant is the signal in the node's own type; a node of any other type
// than Boolean or an integer is a configuration mistake, said plainly.
func (o *opcuaOut) variant(on bool) (*ua.Variant, error) {
	n := 0
	if on {
		n = o.value
	}
	var v any
	switch o.typ {
	case ua.TypeIDBoolean:
		v = on
	case ua.TypeIDSByte:
		v = int8(n)
	case ua.TypeIDByte:
		v = uint8(n)
	case ua.TypeIDInt16:
		v = int16(n)
	case ua.TypeIDUint16:
		v = uint16(n)
	case ua.TypeIDInt32:
		v = int32(n)
	case ua.TypeIDUint32:
		v = uint32(n)
	case ua.TypeIDInt64:
		v = int64(n)
	case ua.TypeIDUint64:
		v = uint64(n)
	default:
		return nil, fmt.Errorf("opcua %s: node %s holds a %s; a line signal needs a Boolean or integer node (check node in the output's configuration)", o.endpoint, o.node, strings.TrimPrefix(o.typ.String(), "TypeID"))
	}
	return ua.MustVariant(v), nil
}

func (o *opcuaOut) drop() {
	if o.cl != nil {
		o.cl.Close(context.Background())
		o.cl = nil
	}
}

func (o *opcuaOut) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.resetter != nil && o.resetter.Stop() {
		o.write(context.Background(), false)
	}
	o.drop()
	return nil
}
