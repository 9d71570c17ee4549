package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vise-edge/vise"
)

func (a *app) deployCmd() *cobra.Command {
	var device, group, failure string
	var comps, configs []string
	var r vise.RolloutPolicy
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "deploy (--device NAME | --group NAME) --component NAME[@VERSION]...",
		Short: "Deploy component versions to a device or a group",
		Long: `Creates a deployment. VERSION may be exact (1.2.0), a semver range (^1.2), or
left out for the newest; hard dependencies are added automatically.
--config sets configuration overrides as COMPONENT:KEY=VALUE (VALUE is JSON
if it parses as JSON, else a string).`,
		Example: `  vise deploy --group line-3 --component vise.inspect@1.4.0 --config vise.inspect:confidence=0.4`,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			req := vise.CreateDeploymentRequest{Rollout: r, FailurePolicy: failure}
			req.Rollout.DeviceTimeout = vise.Duration(timeout)
			switch {
			case (device == "") == (group == ""):
				return fmt.Errorf("%w: give exactly one of --device or --group", errUsage)
			case device != "":
				req.Target = vise.Target{Kind: vise.TargetDevice, Name: device}
			default:
				req.Target = vise.Target{Kind: vise.TargetGroup, Name: group}
			}
			for _, s := range comps {
				req.Components = append(req.Components, vise.ParseComponentRef(s))
			}
			var err error
			if req.Configuration, err = parseConfig(configs); err != nil {
				return err
			}
			d, err := a.client().CreateDeployment(c.Context(), req)
			if err != nil {
				return err
			}
			return a.print(d, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "deployment %s: %s to %s %s (%d devices)\n", d.ID, refsText(d.Components), d.Target.Kind, d.Target.Name, len(d.Devices))
			})
		},
	}
	f := c.Flags()
	f.StringVar(&device, "device", "", "deploy to this device")
	f.StringVar(&group, "group", "", "deploy to every device of this group")
	f.StringArrayVar(&comps, "component", nil, "component as NAME or NAME@VERSION (repeatable)")
	f.StringArrayVar(&configs, "config", nil, "configuration override COMPONENT:KEY=VALUE (repeatable)")
	f.Float64Var(&r.CanaryFraction, "canary", 0, "share of a group's devices to update first (0-1)")
	f.IntVar(&r.PerMinute, "per-minute", 0, "devices to start per minute (0: all at once)")
	f.Float64Var(&r.AbortThreshold, "abort-threshold", 0, "failure share that stops the rollout (0-1)")
	f.DurationVar(&timeout, "device-timeout", 10*time.Minute, "time a device has to become healthy")
	f.StringVar(&failure, "failure-policy", vise.FailureRollback, "on failure: rollback or none")
	return a.addOutput(c)
}

func parseConfig(kvs []string) (map[string]map[string]any, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := map[string]map[string]any{}
	for _, kv := range kvs {
		comp, rest, ok := strings.Cut(kv, ":")
		key, val, ok2 := strings.Cut(rest, "=")
		if !ok || !ok2 || comp == "" || key == "" {
			return nil, vise.Errorf(vise.CodeInvalid, "--config %q: write COMPONENT:KEY=VALUE", kv)
		}
		var v any
		if json.Unmarshal([]byte(val), &v) != nil {
			v = val
		}
		if out[comp] == nil {
			out[comp] = map[string]any{}
		}
		out[comp][key] = v
	}
	return out, nil
}

func refsText(cs []vise.ComponentRef) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.String()
	}
	return strings.Join(parts, ", ")
}

func (a *app) deploymentCmd() *cobra.Command {
	c := &cobra.Command{Use: "deployment", Short: "List and inspect deployments"}
	var target string
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List deployments, newest first",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := checkLimit(limit); err != nil {
				return err
			}
			if target != "" {
				t, old, err := vise.ParseTarget(target)
				if err != nil {
					return fmt.Errorf("%w: --target: %v", errUsage, vise.ErrorMessage(err))
				}
				if old {
					fmt.Fprintln(c.ErrOrStderr(), "warning: "+vise.TargetDeprecation(target, t))
				}
				target = t.String()
			}
			ds, err := a.client().Deployments(c.Context(), target, limit)
			if err != nil {
				return err
			}
			return a.print(ds, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tTARGET\tCOMPONENTS\tSTATUS\tCREATED")
				for _, d := range ds {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", d.ID, d.Target, refsText(d.Components), d.Status, ago(d.CreatedAt))
				}
			})
		},
	}
	list.Flags().StringVar(&target, "target", "", "only deployments for device:NAME or group:NAME")
	limitFlag(list, &limit)
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a deployment and its progress on each device",
		Args:  exactArgs(1, "a deployment id"),
		RunE: func(c *cobra.Command, args []string) error {
			d, err := a.client().Deployment(c.Context(), args[0])
			if err != nil {
				return err
			}
			return a.print(d, func(w *tabwriter.Writer) { showDeployment(w, d) })
		},
	}
	c.AddCommand(a.addOutput(list), a.addOutput(show))
	return c
}

func showDeployment(w *tabwriter.Writer, d *vise.Deployment) {
	fmt.Fprintf(w, "Deployment:\t%s\nTarget:\t%s %s\nComponents:\t%s\nStatus:\t%s %s\nFailure policy:\t%s\nCreated:\t%s by %s\n",
		d.ID, d.Target.Kind, d.Target.Name, refsText(d.Components), d.Status, d.Message, d.FailurePolicy,
		d.CreatedAt.Format(time.RFC3339), orNone(d.CreatedBy))
	counts := map[string]int{}
	for _, dd := range d.Devices {
		counts[string(dd.State)]++
	}
	var parts []string
	for s, n := range counts {
		parts = append(parts, fmt.Sprintf("%s %d", s, n))
	}
	sortStrings(parts)
	fmt.Fprintf(w, "Devices:\t%d (%s)\n\n", len(d.Devices), strings.Join(parts, ", "))
	fmt.Fprintln(w, "DEVICE\tSTATE\tUPDATED\tMESSAGE")
	for _, dd := range d.Devices {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", dd.Device, dd.State, ago(dd.UpdatedAt), dd.Message)
	}
}

func sortStrings(s []string) { sort.Strings(s) }
