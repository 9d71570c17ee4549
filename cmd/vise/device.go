package main

import (
	"encoding/json"
	"fmt"
	"github.com/vise-edge/vise/deviceapi"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vise-edge/vise"
)

func (a *app) deviceCmd() *cobra.Command {
	c := &cobra.Command{Use: "device", Short: "Enroll, list and revoke edge devices"}
	token := &cobra.Command{Use: "token", Short: "Enrollment tokens"}
	token.AddCommand(a.deviceTokenCreateCmd())
	c.AddCommand(a.deviceAddCmd(), a.deviceListCmd(), a.deviceShowCmd(), a.deviceQualityCmd(), token, a.deviceRevokeCmd())
	return c
}

func (a *app) deviceTokenCreateCmd() *cobra.Command {
	var group string
	var ttl time.Duration
	c := &cobra.Command{
		Use:   "create",
		Short: "Make a one-time token that enrolls one device",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if ttl <= 0 {
				return fmt.Errorf("%w: --ttl %s: give a positive duration such as 30m or 24h", errUsage, ttl)
			}
			t, err := a.client().CreateEnrollmentToken(c.Context(), group, ttl)
			if err != nil {
				return err
			}
			return a.print(t, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "%s\n\nValid until %s, once. On the device run:\n  vise agent --server https://<this server>:8443 --token %s --data /var/lib/vise-agent --name <device>\n",
					t.Token, t.ExpiresAt.Local().Format(time.RFC3339), t.Token)
			})
		},
	}
	c.Flags().StringVar(&group, "group", "", "put the enrolled device in this group")
	c.Flags().DurationVar(&ttl, "ttl", time.Hour, "how long the token is valid")
	return a.addOutput(c)
}

func (a *app) deviceRevokeCmd() *cobra.Command {
	return a.addOutput(&cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a device's certificate; it is disconnected at once",
		Long: `Revokes a device's certificate. The embedded broker disconnects the device at
once. With an external broker and --mqtt-crl, the server writes a new CRL
for the broker and runs --mqtt-reload-command, or says to reload the broker.`,
		Args: exactArgs(1, "a device name"),
		RunE: func(c *cobra.Command, args []string) error {
			rev, err := a.client().RevokeDevice(c.Context(), args[0])
			if err != nil {
				return err
			}
			return a.print(rev, func(w *tabwriter.Writer) { printRevocation(w, rev) })
		},
	})
}

// printRevocation says what a revoke did, the external broker's CRL included.
func printRevocation(w io.Writer, rev *vise.Revocation) {
	fmt.Fprintf(w, "revoked device %s\n", rev.Name)
	crl := rev.CRL
	if crl == nil {
		return
	}
	if crl.Error != "" {
		fmt.Fprintf(w, "warning: the broker's CRL %s was not written: %s (the server keeps retrying)\n", crl.File, crl.Error)
		return
	}
	fmt.Fprintf(w, "CRL written to %s (%d revoked certificates)\n", crl.File, crl.Revoked)
	if crl.Reloaded {
		fmt.Fprintf(w, "broker reloaded (%s)\n", crl.ReloadCommand)
	}
	if crl.ReloadOutput != "" {
		fmt.Fprintf(w, "reload command output: %s\n", crl.ReloadOutput)
	}
	if crl.Next != "" {
		fmt.Fprintf(w, "%s\n", crl.Next)
	}
}

func (a *app) deviceAddCmd() *cobra.Command {
	var req vise.CreateDeviceRequest
	var labels []string
	c := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a device record (enrollment with a token comes with the agent)",
		Args:  exactArgs(1, "a device name"),
		RunE: func(c *cobra.Command, args []string) error {
			var err error
			req.Name = args[0]
			if req.Labels, err = parsePairs("--label", labels); err != nil {
				return err
			}
			d, err := a.client().CreateDevice(c.Context(), req)
			if err != nil {
				return err
			}
			return a.print(d, func(w *tabwriter.Writer) { fmt.Fprintf(w, "added device %s\n", d.Name) })
		},
	}
	c.Flags().StringArrayVar(&req.Groups, "group", nil, "put the device in this group (repeatable)")
	c.Flags().StringArrayVar(&labels, "label", nil, "a label as KEY=VALUE (repeatable)")
	return a.addOutput(c)
}

func (a *app) deviceListCmd() *cobra.Command {
	return a.addOutput(&cobra.Command{
		Use:   "list",
		Short: "List devices",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ds, err := a.client().Devices(c.Context())
			if err != nil {
				return err
			}
			return a.print(ds, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "NAME\tGROUPS\tGENERATION\tDEPLOYMENT\tCOMPONENTS\tQUEUE\tLAST SEEN\tLABELS")
				for _, d := range ds {
					seen := "never"
					if d.LastSeenAt != nil {
						seen = ago(*d.LastSeenAt)
					}
					if d.RevokedAt != nil {
						seen = "revoked"
					}
					st := parseStatus(d.Status)
					fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\n", d.Name, orNone(strings.Join(d.Groups, ",")), d.Generation,
						orNone(string(st.State)), st.components(), st.Telemetry.QueueDepth, seen, labelText(d.Labels))
				}
			})
		},
	})
}

func (a *app) deviceShowCmd() *cobra.Command {
	return a.addOutput(&cobra.Command{
		Use:   "show NAME",
		Short: "Show a device",
		Args:  exactArgs(1, "a device name"),
		RunE: func(c *cobra.Command, args []string) error {
			d, err := a.client().Device(c.Context(), args[0])
			if err != nil {
				return err
			}
			return a.print(d, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Device:\t%s\nGroups:\t%s\nLabels:\t%s\nGeneration:\t%d\nCreated:\t%s\n",
					d.Name, orNone(strings.Join(d.Groups, ", ")), labelText(d.Labels), d.Generation, d.CreatedAt.Format(time.RFC3339))
				for _, line := range parseStatus(d.Status).sentBack() {
					fmt.Fprintf(w, "Sent back:\t%s\n", line)
				}
			})
		},
	})
}

func labelText(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	if len(parts) == 0 {
		return "-"
	}
	sortStrings(parts)
	return strings.Join(parts, ",")
}

func (a *app) groupCmd() *cobra.Command {
	c := &cobra.Command{Use: "group", Short: "Create device groups and add devices to them"}
	var desc string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a device group",
		Args:  exactArgs(1, "a group name"),
		RunE: func(c *cobra.Command, args []string) error {
			g, err := a.client().CreateGroup(c.Context(), vise.CreateGroupRequest{Name: args[0], Description: desc})
			if err != nil {
				return err
			}
			return a.print(g, func(w *tabwriter.Writer) { fmt.Fprintf(w, "created group %s\n", g.Name) })
		},
	}
	create.Flags().StringVar(&desc, "description", "", "what the group is")
	add := &cobra.Command{
		Use:   "add GROUP DEVICE",
		Short: "Add a device to a group",
		Args:  exactArgs(2, "a group and a device"),
		RunE: func(c *cobra.Command, args []string) error {
			g, err := a.client().AddGroupMember(c.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			return a.print(g, func(w *tabwriter.Writer) { fmt.Fprintf(w, "group %s: %s\n", g.Name, strings.Join(g.Devices, ", ")) })
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List device groups",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			gs, err := a.client().Groups(c.Context())
			if err != nil {
				return err
			}
			return a.print(gs, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "NAME\tDEVICES\tDESCRIPTION")
				for _, g := range gs {
					fmt.Fprintf(w, "%s\t%s\t%s\n", g.Name, orNone(strings.Join(g.Devices, ",")), g.Description)
				}
			})
		},
	}
	c.AddCommand(a.addOutput(create), a.addOutput(add), a.addOutput(list))
	return c
}

// reportedStatus is an agent's status report as the CLI shows it.
type reportedStatus struct{ deviceapi.Status }

// sentBack is each component's send-back counts, one line a component:
// kept and over the hourly cap per reason.
func (st reportedStatus) sentBack() []string {
	var lines []string
	for name, h := range st.Health {
		if sb := h.SendBack; sb != nil {
			lines = append(lines, fmt.Sprintf("%s: %s", name, sb))
		}
	}
	sortStrings(lines)
	return lines
}

func parseStatus(raw json.RawMessage) reportedStatus {
	var st reportedStatus
	json.Unmarshal(raw, &st.Status)
	if st.Telemetry == nil {
		st.Telemetry = &deviceapi.Telemetry{}
	}
	return st
}

// components summarises component states as "3 RUNNING, 1 FINISHED".
func (st reportedStatus) components() string {
	counts := map[string]int{}
	for _, s := range st.Components {
		counts[s]++
	}
	var parts []string
	for s, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, s))
	}
	sortStrings(parts)
	return orNone(strings.Join(parts, ", "))
}
