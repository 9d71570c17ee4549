package agent

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/deviceapi"
)

// RunCandidate is a new agent binary proving it can take over (started by
// the running agent with --candidate, see selfUpdate): with the device's
// identity from the data directory — no enrollment — it asks the device
// API for the deployment and publishes at QoS 1 on the broker under its
// candidate client id, then reports ready to the running agent over the
// local IPC endpoint and waits to be stopped. It touches nothing else in
// the data directory, and exits when the running agent is gone.
func RunCandidate(ctx context.Context, cfg Config) error {
	if err := cfg.setDefaults(); err != nil {
		return err
	}
	a := &Agent{cfg: cfg, log: cfg.Logger.With("candidate", true)}
	id, err := loadIdentity(a.identityDir())
	if err != nil {
		return vise.Errorf(vise.CodeInvalid, "candidate: no device identity in %s: a candidate never enrolls: %w", a.identityDir(), err)
	}
	holdAt(ctx, cfg.DataDir, "candidate-starting", a.log)
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{id.cert}, RootCAs: id.ca, MinVersion: tls.VersionTLS12}
	a.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	a.id, a.cfg.Server = id, id.Server
	if _, err := a.currentDeployment(ctx); err != nil {
		return fmt.Errorf("candidate: device API at %s: %w", id.Server, err)
	}
	mq, err := a.dialBroker(ctx, tlsCfg)
	if err != nil {
		return fmt.Errorf("candidate: broker at %s: %w", id.MQTT, err)
	}
	defer mq.Disconnect(&paho.Disconnect{})
	if err := publishQoS1(ctx, mq, deviceapi.CandidateTopic(id.Device), []byte(`{"ready": true}`)); err != nil {
		return fmt.Errorf("candidate: broker at %s: %w", id.MQTT, err)
	}
	ipc, err := dialMQTT(ctx, os.Getenv("VISE_IPC"), nil, fmt.Sprintf("%s-candidate-%d", deviceapi.AgentComponent, os.Getpid()),
		deviceapi.AgentComponent, os.Getenv("VISE_IPC_TOKEN"))
	if err != nil {
		return fmt.Errorf("candidate: the running agent's local IPC endpoint: %w", err)
	}
	defer ipc.Disconnect(&paho.Disconnect{})
	b, _ := json.Marshal(deviceapi.ComponentHealth{Ready: true, State: "candidate"})
	if err := publishQoS1(ctx, ipc, deviceapi.IPCStatusTopic(deviceapi.AgentComponent), b); err != nil {
		return fmt.Errorf("candidate: report to the running agent: %w", err)
	}
	a.log.Info("candidate connected as the device and reported healthy", "device", id.Device)
	parent := os.Getppid()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if os.Getppid() != parent {
				return fmt.Errorf("candidate: the running agent is gone; exiting so that one agent remains")
			}
		}
	}
}

// dialBroker connects to the broker as the device's candidate, trying again
// every second while an attempt fails (a busy broker, a link blip): the
// running agent's candidate timeout, not one attempt, decides that the new
// binary cannot connect.
// It gives up when the running agent is gone (so no orphan lingers); the
// running agent kills it at its deadline.
func (a *Agent) dialBroker(ctx context.Context, tlsCfg *tls.Config) (*paho.Client, error) {
	parent := os.Getppid()
	for {
		mq, err := dialMQTT(ctx, a.id.MQTT, tlsCfg, deviceapi.CandidateClientID(a.id.Device), "", "")
		if err == nil || ctx.Err() != nil || os.Getppid() != parent {
			return mq, err
		}
		a.log.Warn("candidate: broker connection failed; trying again", "broker", a.id.MQTT, "err", err)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(time.Second):
		}
	}
}

// dialMQTT makes one MQTT 5 connection (TLS if tlsCfg is set) and checks
// the CONNACK; user and password are for the local IPC endpoint.
func dialMQTT(ctx context.Context, addr string, tlsCfg *tls.Config, clientID, user, password string) (*paho.Client, error) {
	if addr == "" {
		return nil, fmt.Errorf("no address (VISE_IPC unset: run by the agent)")
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var conn net.Conn
	var err error
	if tlsCfg != nil {
		conn, err = (&tls.Dialer{Config: tlsCfg}).DialContext(dctx, "tcp", addr)
	} else {
		conn, err = (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	cl := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(conn)})
	cp := &paho.Connect{ClientID: clientID, CleanStart: true, KeepAlive: 30}
	if user != "" {
		cp.Username, cp.UsernameFlag, cp.Password, cp.PasswordFlag = user, true, []byte(password), true
	}
	ack, err := cl.Connect(dctx, cp)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if ack.ReasonCode != 0 {
		conn.Close()
		return nil, fmt.Errorf("connection refused (reason %#x)", ack.ReasonCode)
	}
	return cl, nil
}

func publishQoS1(ctx context.Context, cl *paho.Client, topic string, payload []byte) error {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := cl.Publish(pctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload})
	if err != nil {
		return err
	}
	if resp != nil && resp.ReasonCode >= 0x80 {
		return fmt.Errorf("publish to %s refused (reason %#x)", topic, resp.ReasonCode)
	}
	return nil
}
