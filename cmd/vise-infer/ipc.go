package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
)

// ipcClient publishes to the agent's local MQTT endpoint as this component.
type ipcClient struct {
	cl   *paho.Client
	comp string
}

func dialIPC(ctx context.Context, addr, comp, token string) (*ipcClient, error) {
	if comp == "" {
		return nil, fmt.Errorf("VISE_IPC is set but VISE_COMPONENT is not; run under 'vise agent'")
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("local agent at %s: %w", addr, err)
	}
	cl := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(conn)})
	ca, err := cl.Connect(dctx, &paho.Connect{ClientID: fmt.Sprintf("%s-%d", comp, os.Getpid()), CleanStart: true, KeepAlive: 30,
		Username: comp, UsernameFlag: true, Password: []byte(token), PasswordFlag: true})
	if err != nil {
		return nil, fmt.Errorf("local agent: %w", err)
	}
	if ca.ReasonCode != 0 {
		return nil, fmt.Errorf("local agent refused the connection (reason %d)", ca.ReasonCode)
	}
	return &ipcClient{cl: cl, comp: comp}, nil
}

func (c *ipcClient) publish(ctx context.Context, kind string, payload []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := c.cl.Publish(ctx, &paho.Publish{Topic: kind + "/" + c.comp, QoS: 1, Payload: payload})
	return err
}

func (c *ipcClient) close() { c.cl.Disconnect(&paho.Disconnect{}) }
