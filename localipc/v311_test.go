package localipc

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// mosquittoClient finds mosquitto_pub or mosquitto_sub, or skips (fails
// under VISE_REQUIRE_MOSQUITTO, as make test sets).
func mosquittoClient(t *testing.T, name string) string {
	t.Helper()
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	if os.Getenv("VISE_REQUIRE_MOSQUITTO") != "" {
		t.Fatalf("%s is required (VISE_REQUIRE_MOSQUITTO is set) but not installed: apt-get install mosquitto-clients (scripts/setup.sh test does)", name)
	}
	t.Skipf("skipping: %s is not installed (apt-get install mosquitto-clients)", name)
	return ""
}

// A component speaking MQTT 3.1.1 — mosquitto_pub and mosquitto_sub, as a
// plant's shell script would use them, and the default of many client
// libraries — logs in with the token, publishes on its own topics only,
// and receives the triggers addressed to it; MQTT 5 from the same tools
// works as well.
func TestIPCMQTT311Clients(t *testing.T) {
	pub, sub := mosquittoClient(t, "mosquitto_pub"), mosquittoClient(t, "mosquitto_sub")
	results := make(chan string, 16)
	i, err := Start("127.0.0.1:0", slog.New(slog.DiscardHandler), func(comp string, b []byte) { results <- comp + " " + string(b) },
		func(string, []byte) {}, func(string, []byte) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { i.Close() })
	host, port, _ := net.SplitHostPort(i.Addr())
	tool := func(ctx context.Context, bin string, args ...string) *exec.Cmd {
		return exec.CommandContext(ctx, bin, append([]string{"-h", host, "-p", port}, args...)...)
	}
	publish := func(version, user, password, topic, msg string, more ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		args := append([]string{"-V", version, "-i", user + "-pub", "-u", user, "-P", password, "-q", "1", "-t", topic, "-m", msg}, more...)
		out, err := tool(ctx, pub, args...).CombinedOutput()
		return string(out), err
	}
	next := func() string {
		select {
		case r := <-results:
			return r
		case <-time.After(10 * time.Second):
			return "nothing"
		}
	}
	for _, v := range []string{"mqttv311", "mqttv5"} {
		if out, err := publish(v, "cam", i.Token(), "results/cam", `{"via":"`+v+`"}`); err != nil {
			t.Fatalf("%s: mosquitto_pub: %v %s", v, err, out)
		}
		if got, want := next(), `cam {"via":"`+v+`"}`; got != want {
			t.Errorf("%s: handler got %q, want %q", v, got, want)
		}
		// Another's topic: 3.1.1 has no way to say no, so it is
		// acknowledged and dropped [MQTT-3.3.5-2]; 5 says 0x87.
		out, err := publish(v, "cam", i.Token(), "results/other", `{"forged":true}`)
		if v == "mqttv311" && err != nil {
			t.Errorf("%s: a refused publish at 3.1.1 should be acknowledged: %v %s", v, err, out)
		}
		publish(v, "cam", i.Token(), "results/cam", `{"after":"forged"}`)
		if got := next(); got != `cam {"after":"forged"}` {
			t.Errorf("%s: after a publish on another's topic the handler got %q; it must never see that one", v, got)
		}
		if v == "mqttv311" { // 3.1.1 cannot be told retain is not available: delivered, not retained
			if out, err := publish(v, "cam", i.Token(), "results/cam", `{"retained":true}`, "-r"); err != nil {
				t.Errorf("%s: a retained publish: %v %s", v, err, out)
			}
			if got := next(); got != `cam {"retained":true}` {
				t.Errorf("%s: a retained publish reached the handler as %q", v, got)
			}
		}
		out, err = publish(v, "cam", "wrong", "results/cam", "{}")
		if err == nil || !strings.Contains(strings.ToLower(out), "bad user name or password") {
			t.Errorf("%s: wrong token: %v %q, want refused as a bad user name or password", v, err, out)
		}
	}

	// A 3.1.1 subscriber gets the trigger a 5 component publishes.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := tool(ctx, sub, "-V", "mqttv311", "-i", "insp-sub", "-u", "insp", "-P", i.Token(), "-t", "trigger/insp", "-C", "1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	line := ipcClient(t, i, "plc", func(string, []byte) {})
	for waited := false; !waited; {
		// QoS 0, and the subscription may not be in yet: until it arrives.
		line.Publish(ctx, &paho.Publish{Topic: "trigger/insp", QoS: 0, Payload: []byte(`{"part_id":"P-1"}`)})
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("mosquitto_sub: %v %s", err, out.String())
			}
			waited = true
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			t.Fatalf("mosquitto_sub got no trigger: %s", out.String())
		}
	}
	if got := strings.TrimSpace(out.String()); got != `{"part_id":"P-1"}` {
		t.Errorf("the 3.1.1 subscriber got %q", got)
	}
}

// The refusals a 3.1.1 client gets are 3.1.1's return codes, and a
// malformed 3.1.1 packet closes the connection.
func TestIPCMQTT311Refusals(t *testing.T) {
	i := startIPC(t)
	connect := func(name string, level, flags byte, id, user, password string) []byte {
		b := []byte{0, byte(len(name))}
		b = append(append(b, name...), level, flags, 0, 30, 0, byte(len(id)))
		b = append(b, id...)
		if flags&0x80 != 0 {
			b = append(append(b, 0, byte(len(user))), user...)
		}
		if flags&0x40 != 0 {
			b = append(append(b, 0, byte(len(password))), password...)
		}
		return frame(0x10, b).Bytes()
	}
	const userPass = 0xc0
	for _, tc := range []struct {
		name string
		send []byte
		want []byte // all the endpoint writes before it closes
	}{
		{"MQTT 3.1", connect("MQIsdp", 3, userPass|2, "c", "cam", i.Token()), []byte{0x20, 2, 0, 1}},
		{"no client id, a session asked for", connect("MQTT", 4, userPass, "", "cam", i.Token()), []byte{0x20, 2, 0, 2}},
		{"wrong token", connect("MQTT", 4, userPass|2, "c", "cam", "wrong"), []byte{0x20, 2, 0, 4}},
		{"no user name", connect("MQTT", 4, 0x40|2, "c", "", i.Token()), []byte{0x20, 2, 0, 4}},
		{"reserved flag", connect("MQTT", 4, userPass|3, "c", "cam", i.Token()), nil},
		{"truncated", connect("MQTT", 4, userPass|2, "c", "cam", i.Token())[:20], nil},
		{"accepted, then a SUBSCRIBE with reserved bits", append(connect("MQTT", 4, userPass|2, "c", "cam", i.Token()),
			frame(0x82, []byte{0, 1, 0, 11, 't', 'r', 'i', 'g', 'g', 'e', 'r', '/', 'c', 'a', 'm', 0x04}).Bytes()...), []byte{0x20, 2, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, i)
			c.Write(tc.send)
			if tc.name == "truncated" {
				c.Conn.(*net.TCPConn).CloseWrite()
			}
			got, err := io.ReadAll(c.r)
			if err != nil {
				t.Fatalf("the endpoint left the connection open: %v (after %v)", err, got)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("the endpoint wrote %v, want %v", got, tc.want)
			}
		})
	}
}

// A 3.1.1 client subscribes to its own trigger only; the SUBACK says
// 0x80 for the rest, and PINGREQ, UNSUBSCRIBE and DISCONNECT work.
func TestIPCMQTT311Session(t *testing.T) {
	i := startIPC(t)
	c := dialRaw(t, i)
	b := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0xc2, 0, 30, 0, 1, 'c', 0, 4, 'i', 'n', 's', 'p', 0, byte(len(i.Token()))}
	c.Write(frame(0x10, append(b, i.Token()...)).Bytes())
	str := func(s string) []byte { return append([]byte{0, byte(len(s))}, s...) }
	sub := append([]byte{0, 7}, str("trigger/insp")...)
	sub = append(append(append(sub, 1), str("trigger/cam")...), 0)
	c.Write(frame(0x82, sub).Bytes())
	c.Write([]byte{0xc0, 0})
	c.Write(frame(0xa2, append([]byte{0, 8}, str("trigger/insp")...)).Bytes())
	c.Write([]byte{0xe0, 0})
	got, err := io.ReadAll(c.r)
	if err != nil {
		t.Fatalf("the endpoint left the connection open after DISCONNECT: %v", err)
	}
	want := []byte{0x20, 2, 0, 0, 0x90, 4, 0, 7, 0, 0x80, 0xd0, 0, 0xb0, 2, 0, 8}
	if !bytes.Equal(got, want) {
		t.Errorf("the endpoint wrote %v, want %v (CONNACK, SUBACK granting QoS 0 and refusing another's trigger, PINGRESP, UNSUBACK)", got, want)
	}
}
