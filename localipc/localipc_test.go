package localipc

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"github.com/vise-edge/vise/internal/logbuf"
)

// ipcClient connects to the IPC endpoint as component comp.
func ipcClient(t *testing.T, i *Server, comp string, onMsg func(topic string, payload []byte)) *paho.Client {
	t.Helper()
	cl, _, err := dialIPC(t, i, comp, i.token, func(pr paho.PublishReceived) (bool, error) {
		onMsg(pr.Packet.Topic, pr.Packet.Payload)
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Disconnect(&paho.Disconnect{}) })
	return cl
}

// dialIPC makes one MQTT connection to the IPC endpoint with user and
// password (each sent only if not empty) and returns the CONNACK.
func dialIPC(t *testing.T, i *Server, user, password string, onMsg func(paho.PublishReceived) (bool, error)) (*paho.Client, *paho.Connack, error) {
	t.Helper()
	conn, err := net.Dial("tcp", i.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	cl := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(conn)})
	if onMsg != nil {
		cl.AddOnPublishReceived(onMsg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// As the components connect (cmd/vise-infer/ipc.go, agent/candidate.go).
	ack, err := cl.Connect(ctx, &paho.Connect{ClientID: cmp.Or(user, "c") + "-1", CleanStart: true, KeepAlive: 30,
		Username: user, UsernameFlag: user != "",
		Password: []byte(password), PasswordFlag: password != ""})
	return cl, ack, err
}

// Components publish verdicts on their own topic only; a line-side
// component triggers an inspecting one, which alone receives it.
func TestIPCVerdictsAndTriggers(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]string{}
	record := func(kind string) func(string, []byte) {
		return func(comp string, payload []byte) {
			mu.Lock()
			got[kind] = append(got[kind], comp+" "+string(payload))
			mu.Unlock()
		}
	}
	i, err := Start("127.0.0.1:0", slog.New(slog.DiscardHandler), record("result"), record("verdict"), record("status"))
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close()
	cam := ipcClient(t, i, "cam", func(topic string, p []byte) { record("cam got")(topic, p) })
	other := ipcClient(t, i, "other", func(topic string, p []byte) { record("other got")(topic, p) })
	plc := ipcClient(t, i, "plc", func(string, []byte) {})
	ctx := context.Background()
	for _, c := range []struct {
		cl    *paho.Client
		topic string
	}{{cam, "trigger/cam"}, {other, "trigger/cam"}} {
		c.cl.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: c.topic, QoS: 1}}})
	}
	cam.Publish(ctx, &paho.Publish{Topic: "verdicts/cam", QoS: 1, Payload: []byte(`{"reject":true}`)})
	cam.Publish(ctx, &paho.Publish{Topic: "verdicts/other", QoS: 1, Payload: []byte(`{"forged":true}`)})
	plc.Publish(ctx, &paho.Publish{Topic: "trigger/cam", QoS: 1, Payload: []byte(`{"part_id":"P-1"}`)})
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		done := len(got["verdict"]) > 0 && len(got["cam got"]) > 0
		mu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got["verdict"]) != 1 || got["verdict"][0] != `cam {"reject":true}` {
		t.Errorf("verdicts the agent took: %q, want cam's own only", got["verdict"])
	}
	if len(got["cam got"]) != 1 || got["cam got"][0] != `trigger/cam {"part_id":"P-1"}` {
		t.Errorf("cam received %q, want the trigger", got["cam got"])
	}
	if len(got["other got"]) != 0 {
		t.Errorf("another component read cam's triggers: %q", got["other got"])
	}
}

// A component connects only with the token of this start and a name of its
// own; anything else is refused at CONNACK and logged.
func TestIPCConnectNeedsToken(t *testing.T) {
	var log logbuf.Buffer
	i, err := Start("127.0.0.1:0", slog.New(slog.NewTextHandler(&log, nil)), func(string, []byte) {}, func(string, []byte) {}, func(string, []byte) {})
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close()
	for _, tc := range []struct{ name, user, password string }{
		{"wrong token", "cam", "not-the-token"},
		{"no token", "cam", ""},
		{"no component name", "", i.token},
		{"a name of two topic levels", "line/cam", i.token},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ack, err := dialIPC(t, i, tc.user, tc.password, nil)
			if err == nil {
				t.Fatalf("connected as %q with password %q", tc.user, tc.password)
			}
			if ack == nil || ack.ReasonCode != packets.ConnackBadUsernameOrPassword {
				t.Errorf("CONNACK %+v (err %v); want bad user name or password", ack, err)
			}
		})
	}
	if got := log.String(); strings.Count(got, "local IPC connection refused: wrong token or no component name") != 4 {
		t.Errorf("log has not one refusal per attempt:\n%s", got)
	}
}

// A component publishes on its own results, verdicts and status topics
// only: anything else is refused at QoS 1 (PUBACK 0x87) and dropped at
// QoS 0, and reaches no handler.
func TestIPCPublishACL(t *testing.T) {
	var mu sync.Mutex
	var got []string
	record := func(kind string) Handler {
		return func(comp string, payload []byte) {
			mu.Lock()
			got = append(got, kind+" "+comp+" "+string(payload))
			mu.Unlock()
		}
	}
	i, err := Start("127.0.0.1:0", slog.New(slog.DiscardHandler), record("result"), record("verdict"), record("status"))
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close()
	cam := ipcClient(t, i, "cam", func(string, []byte) {})
	ctx := context.Background()
	for _, tc := range []struct {
		topic string
		qos   byte
		want  byte // the PUBACK reason at QoS 1
	}{
		{"results/cam", 1, 0},
		{"verdicts/cam", 1, 0},
		{"status/cam", 0, 0},
		{"results/other", 1, packets.PubackNotAuthorized},
		{"verdicts/other", 1, packets.PubackNotAuthorized},
		{"status/other", 1, packets.PubackNotAuthorized},
		{"results/cam/x", 1, packets.PubackNotAuthorized},
		{"results/+", 1, packets.PubackNotAuthorized},
		{"trigger/cam/x", 1, packets.PubackNotAuthorized},
		{"trigger/#", 1, packets.PubackNotAuthorized},
		{"cam", 1, packets.PubackNotAuthorized},
		{"verdicts/other", 0, 0},
		{"status/cam", 1, 0}, // after the QoS 0 ones: they were handled by its PUBACK
	} {
		resp, err := cam.Publish(ctx, &paho.Publish{Topic: tc.topic, QoS: tc.qos, Payload: []byte(tc.topic)})
		if tc.qos == 1 && (resp == nil || resp.ReasonCode != tc.want) {
			t.Errorf("publish to %s: %v %v, want reason %#x", tc.topic, resp, err, tc.want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"result cam results/cam", "verdict cam verdicts/cam", "status cam status/cam", "status cam status/cam"}
	if !slices.Equal(got, want) {
		t.Errorf("handlers got %q, want %q", got, want)
	}
}

// A trigger goes to the component it names, if subscribed, and to no
// other; a component may not subscribe to another's triggers.
func TestIPCTriggerRouting(t *testing.T) {
	i, err := Start("127.0.0.1:0", slog.New(slog.DiscardHandler), func(string, []byte) {}, func(string, []byte) {}, func(string, []byte) {})
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close()
	var mu sync.Mutex
	got := map[string][]string{}
	receiver := func(comp string) func(string, []byte) {
		return func(topic string, payload []byte) {
			mu.Lock()
			got[comp] = append(got[comp], topic+" "+string(payload))
			mu.Unlock()
		}
	}
	ctx := context.Background()
	cam, other := ipcClient(t, i, "cam", receiver("cam")), ipcClient(t, i, "other", receiver("other"))
	ipcClient(t, i, "idle", receiver("idle")) // subscribed to nothing
	plc := ipcClient(t, i, "plc", receiver("plc"))
	for comp, cl := range map[string]*paho.Client{"cam": cam, "other": other, "plc": plc} {
		if _, err := cl.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "trigger/" + comp, QoS: 1}}}); err != nil {
			t.Fatalf("%s subscribing to its triggers: %v", comp, err)
		}
	}
	if ack, err := cam.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "trigger/other", QoS: 1}}}); err == nil || ack.Reasons[0] != packets.SubackNotauthorized {
		t.Errorf("cam subscribed to other's triggers: %v %v", ack, err)
	}
	// Each trigger is routed before its PUBACK and each client reads in
	// order: once the last is in, one misrouted earlier would be too.
	for _, to := range []string{"other", "cam", "other"} {
		if _, err := plc.Publish(ctx, &paho.Publish{Topic: "trigger/" + to, QoS: 1, Payload: []byte(to)}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string][]string{"cam": {"trigger/cam cam"}, "other": {"trigger/other other", "trigger/other other"}}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		done := len(got["cam"]) >= 1 && len(got["other"]) >= 2
		mu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("received %q, want %q", got, want)
	}
}
