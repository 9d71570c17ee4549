package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"text/tabwriter"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/spf13/cobra"

	"github.com/vise-edge/vise"
)

func (a *app) resultsCmd() *cobra.Command {
	var device string
	var since time.Duration
	var limit int
	c := &cobra.Command{
		Use:   "results",
		Short: "List inference results devices sent back, newest first",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := checkLimit(limit); err != nil {
				return err
			}
			var from time.Time
			if since > 0 {
				from = time.Now().Add(-since)
			}
			rs, err := a.client().Results(c.Context(), device, from, limit)
			if err != nil {
				return err
			}
			return a.print(rs, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "RECEIVED\tDEVICE\tCOMPONENT\tDEFECTS\tMSG ID")
				for _, r := range rs {
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", r.ReceivedAt.Local().Format("15:04:05.000"), r.Device, r.Component, r.Defects, r.MsgID)
				}
			})
		},
	}
	c.Flags().StringVar(&device, "device", "", "only this device")
	c.Flags().DurationVar(&since, "since", 0, "only results from this far back, e.g. 1h")
	limitFlag(c, &limit)
	return a.addOutput(c)
}

// limitFlag adds --limit with the rule every list command shares.
func limitFlag(c *cobra.Command, limit *int) {
	c.Flags().IntVar(limit, "limit", vise.DefaultListLimit, fmt.Sprintf("at most this many (1 to %d)", vise.MaxListLimit))
}

// checkLimit refuses a --limit the server would refuse, before asking it.
func checkLimit(limit int) error {
	if vise.CheckLimit(limit) != nil {
		return fmt.Errorf("%w: --limit %d is out of range: use 1 to %d", errUsage, limit, vise.MaxListLimit)
	}
	return nil
}

// ipcCmd lets a component written in any language (a shell script, say)
// talk to its agent's local IPC endpoint, using the VISE_IPC, VISE_IPC_TOKEN
// and VISE_COMPONENT variables the agent sets.
func (a *app) ipcCmd() *cobra.Command {
	c := &cobra.Command{Use: "ipc", Short: "Talk to the local agent from inside a component"}
	c.AddCommand(&cobra.Command{
		Use:   "publish results|status JSON",
		Short: "Publish a result (forwarded to the server) or a status such as {\"ready\": true}",
		Args:  exactArgs(2, "a kind (results or status) and a JSON payload"),
		RunE: func(c *cobra.Command, args []string) error {
			if args[0] != "results" && args[0] != "status" {
				return fmt.Errorf("%w: kind %q: use results or status", errUsage, args[0])
			}
			addr, token, comp := os.Getenv("VISE_IPC"), os.Getenv("VISE_IPC_TOKEN"), os.Getenv("VISE_COMPONENT")
			if addr == "" || comp == "" {
				return vise.Errorf(vise.CodeInvalid, "VISE_IPC and VISE_COMPONENT are not set; run this inside a component started by 'vise agent'")
			}
			return ipcPublish(c.Context(), addr, comp, token, args[0]+"/"+comp, []byte(args[1]))
		},
	})
	return c
}

func ipcPublish(ctx context.Context, addr, user, token, topic string, payload []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return vise.Errorf(vise.CodeUnavailable, "local agent at %s: %w", addr, err)
	}
	cl := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(conn)})
	ca, err := cl.Connect(ctx, &paho.Connect{ClientID: user + "-" + fmt.Sprint(os.Getpid()), CleanStart: true, KeepAlive: 10,
		Username: user, UsernameFlag: true, Password: []byte(token), PasswordFlag: true})
	if err != nil {
		return vise.Errorf(vise.CodeUnavailable, "local agent: %w", err)
	}
	if ca.ReasonCode != 0 {
		return vise.Errorf(vise.CodeUnauthorized, "local agent refused the connection (reason %d)", ca.ReasonCode)
	}
	defer cl.Disconnect(&paho.Disconnect{})
	if _, err := cl.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload}); err != nil {
		return vise.Errorf(vise.CodeUnavailable, "publish to the local agent: %w", err)
	}
	return nil
}
