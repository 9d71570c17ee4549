package lineout

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"
	"github.com/simonvetter/modbus"

	"github.com/vise-edge/vise/verdict"
)

// plc is a Modbus TCP server (the library's own) with coils 0-99 and
// holding registers 0-9 that refuse writes to register 9.
type plc struct {
	mu     sync.Mutex
	coils  [100]bool
	regs   [10]uint16
	writes []string
}

func (p *plc) HandleCoils(req *modbus.CoilsRequest) ([]bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if int(req.Addr)+int(req.Quantity) > len(p.coils) {
		return nil, modbus.ErrIllegalDataAddress
	}
	if req.IsWrite {
		copy(p.coils[req.Addr:], req.Args)
		p.writes = append(p.writes, "coil "+strconv.Itoa(int(req.Addr))+"="+strconv.FormatBool(req.Args[0]))
		return nil, nil
	}
	return append([]bool{}, p.coils[req.Addr:req.Addr+req.Quantity]...), nil
}

func (p *plc) HandleDiscreteInputs(*modbus.DiscreteInputsRequest) ([]bool, error) {
	return nil, modbus.ErrIllegalFunction
}

func (p *plc) HandleHoldingRegisters(req *modbus.HoldingRegistersRequest) ([]uint16, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if int(req.Addr)+int(req.Quantity) > len(p.regs) {
		return nil, modbus.ErrIllegalDataAddress
	}
	if req.IsWrite {
		if req.Addr == 9 {
			return nil, modbus.ErrIllegalFunction // write-protected
		}
		copy(p.regs[req.Addr:], req.Args)
		p.writes = append(p.writes, "register "+strconv.Itoa(int(req.Addr))+"="+strconv.Itoa(int(req.Args[0])))
		return nil, nil
	}
	return append([]uint16{}, p.regs[req.Addr:req.Addr+req.Quantity]...), nil
}

func (p *plc) HandleInputRegisters(*modbus.InputRegistersRequest) ([]uint16, error) {
	return nil, modbus.ErrIllegalFunction
}

func (p *plc) log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string{}, p.writes...)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startPLC(t *testing.T) (*plc, string) {
	t.Helper()
	p := &plc{}
	url := "tcp://" + freeAddr(t)
	srv, err := modbus.NewServer(&modbus.ServerConfiguration{URL: url, MaxClients: 4, Timeout: 30 * time.Second}, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	return p, url
}

func ptr(i int) *int { return &i }

func reject() *verdict.Verdict { return &verdict.Verdict{Reject: true, MsgID: "v1"} }

// start runs an output on cfg for the test.
func start(t *testing.T, cfg Config) *Output {
	t.Helper()
	if cfg.On == "" {
		cfg.On = OnReject
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := Start(ctx, cfg, s, slog.New(slog.DiscardHandler), nil)
	t.Cleanup(func() { cancel(); o.Close() })
	return o
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestModbusPulse(t *testing.T) {
	p, url := startPLC(t)
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"coil", Config{Type: "modbus", URL: url, Coil: ptr(7), Pulse: "50ms"}, []string{"coil 7=true", "coil 7=false"}},
		{"register", Config{Type: "modbus", URL: url, Register: ptr(3), Value: ptr(42), Pulse: "50ms"}, []string{"register 3=42", "register 3=0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(p.log())
			o := start(t, tc.cfg)
			o.Offer(&verdict.Verdict{Reject: false}) // a pass: not this output's business
			o.Offer(reject())
			waitFor(t, "set and reset", func() bool { return len(p.log()) >= before+2 })
			if got := p.log()[before:]; strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("PLC saw %q, want %q", got, tc.want)
			}
			if st := o.Status(); !st.Up || st.Delivered != 1 || st.Undelivered != 0 {
				t.Errorf("status = %+v", st)
			}
		})
	}
}

// Rejects closer together than the pulse each get a pulse of their own,
// so a PLC counting rising edges counts every one; in count mode the
// register counts them.
func TestModbusRejectsInQuickSuccession(t *testing.T) {
	const n = 5
	p, url := startPLC(t)
	p.mu.Lock()
	p.regs[4] = 65533 // a counter about to wrap
	p.mu.Unlock()
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"coil pulses", Config{Type: "modbus", URL: url, Coil: ptr(8), Pulse: "30ms", Gap: "10ms"},
			slices.Repeat([]string{"coil 8=true", "coil 8=false"}, n)},
		{"counter register", Config{Type: "modbus", URL: url, Register: ptr(4), Mode: ModeCount},
			[]string{"register 4=65534", "register 4=65535", "register 4=0", "register 4=1", "register 4=2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(p.log())
			o := start(t, tc.cfg)
			for range n {
				o.Offer(reject())
			}
			waitFor(t, "every verdict signalled", func() bool { return len(p.log()) >= before+len(tc.want) })
			waitFor(t, "delivery counted", func() bool { return o.Status().Delivered == n })
			if diff := cmp.Diff(tc.want, p.log()[before:]); diff != "" {
				t.Errorf("PLC saw (-want +got):\n%s", diff)
			}
			if st := o.Status(); !st.Up || st.Undelivered != 0 {
				t.Errorf("status = %+v", st)
			}
		})
	}
}

// More rejects than the queue holds while pulses take their time: the
// overflow is counted, never merged into another pulse.
func TestModbusPulseQueueOverflow(t *testing.T) {
	p, url := startPLC(t)
	o := start(t, Config{Type: "modbus", URL: url, Coil: ptr(9), Pulse: "20ms"})
	const offered = queueLen + 10
	for range offered {
		o.Offer(reject())
	}
	waitFor(t, "the queue drained", func() bool {
		st := o.Status()
		return st.Delivered+st.Undelivered == offered && len(p.log()) == 2*int(st.Delivered)
	})
	st := o.Status()
	if st.Undelivered == 0 || st.Delivered < queueLen {
		t.Errorf("status = %+v; want the queue's worth delivered and the rest counted", st)
	}
	if rises := strings.Count(strings.Join(p.log(), ","), "coil 9=true"); rises != int(st.Delivered) {
		t.Errorf("%d rising edges for %d delivered verdicts", rises, st.Delivered)
	}
}

func TestModbusRefused(t *testing.T) {
	_, url := startPLC(t)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no such coil", Config{Type: "modbus", URL: url, Coil: ptr(500)}, "illegal data address (the PLC has no such address"},
		{"write-protected register", Config{Type: "modbus", URL: url, Register: ptr(9)}, "illegal function"},
		{"nobody listening", Config{Type: "modbus", URL: "tcp://" + freeAddr(t), Coil: ptr(1), Timeout: "300ms"}, "connect"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := start(t, tc.cfg)
			o.Offer(reject())
			waitFor(t, "the failure", func() bool { return o.Status().Undelivered == 1 })
			if st := o.Status(); st.Up || !strings.Contains(st.LastError, tc.want) {
				t.Errorf("status = %+v, want down with %q", st, tc.want)
			}
		})
	}
}

// An output that is down never blocks the caller: what does not fit its
// queue is counted at once.
func TestDownOutputNeverBlocks(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	defer l.Close()
	o := start(t, Config{Type: "modbus", URL: "tcp://" + l.Addr().String(), Coil: ptr(1), Timeout: "5s"})
	start := time.Now()
	for range 100 {
		o.Offer(reject())
	}
	if st := o.Status(); st.Undelivered < 100-queueLen-1 {
		t.Errorf("after offering 100 to a hung PLC: %+v; want the overflow counted at once", st)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("offering took %s: the output blocked its caller", time.Since(start))
	}
}

func TestWebhook500Then200(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != "application/json" || calls.Add(1) == 1 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	o := start(t, Config{Type: "webhook", URL: srv.URL})
	o.Offer(reject())
	waitFor(t, "delivery", func() bool { return o.Status().Delivered == 1 })
	if st := o.Status(); calls.Load() != 2 || st.Undelivered != 0 || !st.Up {
		t.Errorf("%d calls, status %+v; want a retry after the 500 and delivery", calls.Load(), st)
	}

	always := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	defer always.Close()
	o = start(t, Config{Type: "webhook", URL: always.URL, Retries: ptr(1)})
	o.Offer(reject())
	waitFor(t, "giving up", func() bool { return o.Status().Undelivered == 1 })
	if st := o.Status(); !strings.Contains(st.LastError, "502 Bad Gateway (after 2 attempts)") {
		t.Errorf("status = %+v", st)
	}
}

// opcServer is gopcua's own server with a Boolean node ns=1;s=Reject and
// a Float node ns=1;s=Speed.
func opcServer(t *testing.T) (string, *server.NodeNameSpace) {
	t.Helper()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	p, _ := strconv.Atoi(port)
	s := server.New(server.EnableSecurity("None", ua.MessageSecurityModeNone), server.EnableAuthMode(ua.UserTokenTypeAnonymous),
		server.EndPoint("127.0.0.1", p))
	ns := server.NewNodeNameSpace(s, "line")
	ns.AddNewVariableStringNode("Reject", false)
	ns.AddNewVariableStringNode("Speed", float32(1.5))
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return "opc.tcp://127.0.0.1:" + port, ns
}

func TestOPCUA(t *testing.T) {
	url, ns := opcServer(t)
	value := func(name string) any {
		return ns.Node(ua.NewStringNodeID(ns.ID(), name)).Value().Value.Value()
	}
	nodeID := func(name string) string { return ua.NewStringNodeID(ns.ID(), name).String() }

	o := start(t, Config{Type: "opcua", URL: url, Node: nodeID("Reject"), Pulse: "300ms"})
	o.Offer(reject())
	waitFor(t, "the node set", func() bool { return value("Reject") == true })
	waitFor(t, "the node reset after the pulse", func() bool { return value("Reject") == false })
	if st := o.Status(); st.Delivered != 1 || !st.Up {
		t.Errorf("status = %+v", st)
	}

	wrong := start(t, Config{Type: "opcua", URL: url, Node: nodeID("Speed")})
	wrong.Offer(reject())
	waitFor(t, "the refusal", func() bool { return wrong.Status().Undelivered == 1 })
	if st := wrong.Status(); !strings.Contains(st.LastError, "holds a Float; a line signal needs a Boolean or integer node") {
		t.Errorf("status = %+v", st)
	}
	if value("Speed") != float32(1.5) {
		t.Errorf("the Float node was changed to %v", value("Speed"))
	}
}

func TestParseConfigs(t *testing.T) {
	tests := []struct{ json, err string }{
		{`[{"type": "modbus", "url": "tcp://plc:502", "coil": 1}]`, ""},
		{`[{"type": "modbus", "url": "tcp://plc:502", "coill": 1}]`, `unknown field "coill"`},
		{`[{"type": "webhook", "url": "http://x", "on": "sometimes"}]`, `on "sometimes"`},
		{`[{"type": "webhook", "url": "http://x", "timeout": "soon"}]`, `invalid duration "soon"`},
	}
	for _, tc := range tests {
		_, err := ParseConfigs([]byte(tc.json))
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ParseConfigs(%s) = %v, want %q", tc.json, err, tc.err)
		}
	}
	for _, c := range []Config{
		{Type: "modbus", URL: "tcp://plc:502"},
		{Type: "modbus", URL: "plc:502", Coil: ptr(1)},
		{Type: "opcua", URL: "opc.tcp://x", Node: ""},
		{Type: "pigeon"},
		{Type: "modbus", URL: "tcp://plc:502", Coil: ptr(1), Mode: ModeCount},
		{Type: "modbus", URL: "tcp://plc:502", Register: ptr(1), Mode: "toggle"},
	} {
		if _, err := Open(c); err == nil {
			t.Errorf("Open(%+v) accepted it", c)
		}
	}
}
